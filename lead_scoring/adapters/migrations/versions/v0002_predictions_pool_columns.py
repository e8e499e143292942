"""predictions: role, production and created_date on a table made before them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

The rank pool (a version's production champion rows of leads created before a batch) filters on
these three columns. The release before migrations added them to an older ``predictions`` table at
its next write; this revision adds them at upgrade, NULL on the old rows (which the pool then leaves
out, as before). A table that has them, or no table yet, is left as it is. The types are the ones a
first write creates for them (pandas' ``to_sql``: text, 64-bit integer, date-time without zone).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "predictions"
COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("role", sa.Text()),
    ("production", sa.BigInteger()),
    ("created_date", sa.DateTime()),
)


def _existing() -> set[str] | None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        return None
    return {column["name"] for column in inspector.get_columns(TABLE)}


def upgrade() -> None:
    existing = _existing()
    if existing is None:
        return
    for name, kind in COLUMNS:
        if name not in existing:
            op.add_column(TABLE, sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # the release of 0001 writes these columns too: dropping them would lose their values for nothing
    pass
