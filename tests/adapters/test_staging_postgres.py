"""The staging database gives the same tables on PostgreSQL as on SQLite.

tests/test_staging.py runs each staging behaviour (atomic publish, read back, a failed run keeping the
old tables, merges, `prepare` end to end) on both databases; these tests put the two side by side:
the same input must read back as the same frame from either, so the DAGs and the CLI can move to
Postgres by configuration alone.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters.staging import StagingDatabase
from tests.factories import raw_leads, write_csv
from tests.postgres import drop_all_tables, postgres_url  # noqa: F401 - a fixture


@pytest.fixture
def both(postgres_url, tmp_path):  # noqa: F811 - the imported fixture
    """An empty SQLite and an empty Postgres staging database."""
    sqlite, postgres = StagingDatabase(f"sqlite:///{tmp_path / 'stage.db'}"), StagingDatabase(postgres_url)
    drop_all_tables(postgres)
    yield {"sqlite": sqlite, "postgres": postgres}
    drop_all_tables(postgres)
    for database in (sqlite, postgres):
        database.dispose()


def _same(left: pd.DataFrame, right: pd.DataFrame, key: str) -> None:
    pd.testing.assert_frame_equal(
        left.sort_values(key).reset_index(drop=True), right.sort_values(key).reset_index(drop=True), check_dtype=True
    )


def test_a_frame_reads_back_the_same_from_both(both):
    frame = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "created_date": pd.to_datetime(
                ["2021-07-01 00:00:00", "2021-07-01 23:59:59.5", "2021-11-30 12:00:00", "2021-12-31 08:15:00"],
                format="ISO8601",
            ),
            "city_tier": [1.0, 2.0, np.nan, 3.0],
            "count": np.array([0, 3, 7, 1_000_000], dtype="int64"),
            "source": ["google", None, "(other)", "l'école"],
            "app_complete_flag": np.array([1, 0, 0, 1], dtype="int64"),
        }
    )
    read = {}
    for name, database in both.items():
        database.replace_tables({"model_input": frame}, run_key="parity")
        read[name] = database.read_table("model_input")
        # no scratch left (beside the data, the schema's revision)
        assert set(sa.inspect(database.engine).get_table_names()) - {"alembic_version"} == {"model_input"}, name
    _same(read["sqlite"], read["postgres"], "lead_id")
    _same(read["postgres"], frame, "lead_id")


def test_prepare_writes_the_same_model_input_to_both(both, cli, home):
    path = write_csv(raw_leads(60), home / "leads.csv")
    tables = {}
    for name, database in both.items():
        status, _out, err = cli("prepare", "--input", path, "--db", database.url)
        assert status == 0, f"{name}: {err}"
        tables[name] = database.read_table("model_input")
    assert len(tables["postgres"]) == 60
    _same(tables["sqlite"], tables["postgres"], "lead_id")


def test_a_rerun_replaces_the_tables_on_both(both):
    for database in both.values():
        database.replace_tables({"model_input": pd.DataFrame({"lead_id": ["a", "b"]})}, run_key="first")
        database.replace_tables({"model_input": pd.DataFrame({"lead_id": ["c"]})}, run_key="second")
    assert [db.read_table("model_input")["lead_id"].tolist() for db in both.values()] == [["c"], ["c"]]


def _merge_at_once(databases, frames, table, keys):
    """Each database merges its frame into ``table`` from its own thread, all starting together
    (two workers' runs of different days); returns what each raised, None when it landed."""
    start = threading.Barrier(len(databases))

    def merge(database, frame):
        start.wait(timeout=10)
        try:
            database.merge_rows(f"day{frame['day'].iloc[0]}", table, frame, keys)
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            return exc
        return None

    with ThreadPoolExecutor(len(databases)) as pool:
        return list(pool.map(merge, databases, frames))


def test_days_merged_at_once_into_an_empty_postgres_database_both_land(postgres_url, monkeypatch):  # noqa: F811
    """Two runs creating `predictions` together: each sees no table, and without a lock the second
    CREATE fails (duplicate pg_type row) until its retry. Both pause just before creating, so
    they would collide every time; with the per-table lock the second waits, then finds the table."""
    from lead_scoring.adapters import staging

    created = threading.Barrier(2)
    write_frame = staging.bulk.write_frame

    def slow_create(conn, frame, table, *args, **kwargs):
        if not table.startswith("_scratch_"):
            with contextlib.suppress(threading.BrokenBarrierError):
                created.wait(timeout=1)  # the other run reaches its CREATE too, unless it waits for a lock
        return write_frame(conn, frame, table, *args, **kwargs)

    monkeypatch.setattr(staging.bulk, "write_frame", slow_create)
    databases = [StagingDatabase(postgres_url), StagingDatabase(postgres_url)]
    drop_all_tables(databases[0])
    keys = ["lead_id", "model_version"]
    days = [
        pd.DataFrame({"lead_id": [f"{day}-{i}" for i in range(50)], "model_version": "1", "day": day}) for day in (1, 2)
    ]
    try:
        assert _merge_at_once(databases, days, "predictions", keys) == [None, None]
        stored = databases[0].read_table("predictions")
        assert sorted(stored["lead_id"]) == sorted(pd.concat(days)["lead_id"])
    finally:
        drop_all_tables(databases[0])
        for database in databases:
            database.dispose()


def test_days_merged_at_once_into_an_existing_postgres_table_never_deadlock(postgres_url):  # noqa: F811
    """Runs of different days merging into the same table at once, round after round: each lands
    (no deadlock between one's index check and the other's insert), every row once."""
    databases = [StagingDatabase(postgres_url) for _ in range(3)]
    drop_all_tables(databases[0])
    keys = ["lead_id", "model_version"]
    try:
        for round_ in range(15):
            days = [
                pd.DataFrame(
                    {"lead_id": [f"{day}-{i}" for i in range(200)], "model_version": str(round_ % 2), "day": day}
                )
                for day in range(len(databases))
            ]
            assert _merge_at_once(databases, days, "predictions", keys) == [None] * len(databases), f"round {round_}"
        stored = databases[0].read_table("predictions")
        assert len(stored) == 2 * 3 * 200
        assert not stored.duplicated(keys).any()
    finally:
        drop_all_tables(databases[0])
        for database in databases:
            database.dispose()
