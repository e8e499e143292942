"""Baseline: the staging schema of the release before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

No DDL. Until this revision the staging database had no recorded schema: each table is created by
its first write, from the columns of the frame written (the data pipeline's tables and
``model_performance`` are replaced whole on every run; ``predictions``, ``scored_leads``,
``outcomes``, ``unmatched_outcomes``, ``scoring_runs``, ``served_days`` and ``alarms`` grow by
merges, with a unique index on their key). A database that release made has no ``alembic_version``
table; upgrading it records this revision and applies the later ones, its rows untouched.
"""

from __future__ import annotations

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
