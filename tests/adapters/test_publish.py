"""The publish swap is one transaction: a swap that fails half-way leaves every old table in place."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.postgres import postgres_url, staging_db  # noqa: F401 - fixtures

NAMES = ["loaded_data", "city_tier_mapped", "categorical_variables_mapped", "interactions_mapped", "model_input"]


def test_a_swap_that_fails_on_the_second_table_keeps_all_five_old_tables(staging_db):  # noqa: F811
    db = staging_db
    db.replace_tables({name: pd.DataFrame({"x": [1, 2]}) for name in NAMES}, run_key="old")
    renames = []

    def fail_second_rename(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        if statement.lstrip().upper().startswith("ALTER TABLE"):
            renames.append(statement)
            if len(renames) == 2:
                raise RuntimeError("disk full while renaming the second table")

    sa.event.listen(db.engine, "before_cursor_execute", fail_second_rename)
    try:
        with pytest.raises(Exception, match="disk full"):  # noqa: PT011 - SQLAlchemy may wrap it
            db.replace_tables({name: pd.DataFrame({"x": [7, 8, 9]}) for name in NAMES}, run_key="new")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", fail_second_rename)
    assert len(renames) == 2  # the first table was already swapped inside the transaction
    for name in NAMES:
        assert db.read_table(name)["x"].tolist() == [1, 2], name
    # no scratch left behind (alembic_version: the schema's revision)
    assert sorted(set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}) == sorted(NAMES)
