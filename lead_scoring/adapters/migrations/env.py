"""Alembic's environment for the staging database: it migrates the connection it is given.

Only online, on the caller's connection (:func:`lead_scoring.adapters.migrations.upgrade`): the
caller opened the transaction and holds the lock, so every revision and the version row commit
together, or none does.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `lead-scoring db upgrade` (it gives Alembic its connection)")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
