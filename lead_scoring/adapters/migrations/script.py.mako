"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

What it changes and why (a reader upgrading their database reads this), and what becomes of the old rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = "${up_revision}"
down_revision: str | None = "${down_revision}"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # e.g. op.add_column("predictions", sa.Column("segment", sa.Text(), nullable=True)): each table that
    # merges rows (predictions, scored_leads, ...) may not exist yet in a new database; check with
    # sa.inspect(op.get_bind()).has_table(...) first, as v0002 does
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
