"""The staging database: atomic publish, scratch clean-up, keyed merges."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.errors import MissingTableError
from tests.factories import raw_leads, write_csv
from tests.postgres import postgres_url, staging_db  # noqa: F401 - fixtures


@pytest.fixture
def db(staging_db):  # noqa: F811 - the imported fixture
    """The same tests on SQLite and on a real PostgreSQL server."""
    return staging_db


def tables(db: StagingDatabase) -> list[str]:
    import sqlalchemy as sa

    return sorted(set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"})  # the schema's revision


def test_replace_tables_publishes_all_and_leaves_no_scratch(db):
    db.replace_tables({"a": pd.DataFrame({"x": [1, 2]}), "b": pd.DataFrame({"y": ["p"]})}, run_key="k1")
    assert db.read_table("a")["x"].tolist() == [1, 2]
    assert tables(db) == ["a", "b"]


def test_missing_table_is_a_clear_error(db):
    with pytest.raises(MissingTableError, match="'model_input' does not exist.*lead-scoring prepare"):
        db.read_table("model_input")


def test_merge_rows_replaces_same_keys_and_keeps_others(db):
    keys = ["lead_id", "model_version"]
    first = pd.DataFrame({"lead_id": ["a", "b"], "model_version": ["1", "1"], "score": [0.1, 0.2]})
    db.merge_rows("r1", "predictions", first, keys)
    again = pd.DataFrame({"lead_id": ["b", "c"], "model_version": ["1", "1"], "score": [0.9, 0.3]})
    db.merge_rows("r2", "predictions", again, keys)
    new_model = pd.DataFrame({"lead_id": ["a"], "model_version": ["2"], "score": [0.5]})
    db.merge_rows("r3", "predictions", new_model, keys)

    table = db.read_table("predictions").sort_values(keys).reset_index(drop=True)
    assert table[keys + ["score"]].values.tolist() == [
        ["a", "1", 0.1],
        ["a", "2", 0.5],
        ["b", "1", 0.9],
        ["c", "1", 0.3],
    ]
    assert tables(db) == ["predictions"]


def test_merge_rows_into_a_table_published_whole_and_columns_kept_from_the_first_write(db):
    """model_input is published whole (no index) and then gains rows by lead_id; scored_leads keeps first_scored_at."""
    db.replace_tables({"model_input": pd.DataFrame({"lead_id": ["a", "b"], "label": [0, 1]})}, run_key="prep")
    db.merge_rows("fb", "model_input", pd.DataFrame({"lead_id": ["b", "c"], "label": [0, 1]}), ["lead_id"])
    table = db.read_table("model_input").sort_values("lead_id")
    assert table.values.tolist() == [["a", 0], ["b", 0], ["c", 1]]

    first = pd.DataFrame({"lead_id": ["a"], "tier": [1.0], "first_scored_at": pd.to_datetime(["2021-12-01"])})
    db.merge_rows("s1", "scored_leads", first, ["lead_id"], keep=["first_scored_at"])
    later = pd.DataFrame(
        {"lead_id": ["a", "b"], "tier": [2.0, 3.0], "first_scored_at": pd.to_datetime(["2021-12-09"] * 2)}
    )
    db.merge_rows("s2", "scored_leads", later, ["lead_id"], keep=["first_scored_at"])
    scored = db.read_table("scored_leads").sort_values("lead_id")
    assert scored["tier"].tolist() == [2.0, 3.0]
    assert pd.to_datetime(scored["first_scored_at"]).tolist() == [
        pd.Timestamp("2021-12-01"),
        pd.Timestamp("2021-12-09"),
    ]


def test_a_failed_publish_keeps_the_old_tables(db, monkeypatch):
    db.replace_tables({"a": pd.DataFrame({"x": [1]})}, run_key="old")
    with pytest.raises(Exception, match="boom"):  # noqa: PT011
        monkeypatch.setattr(db, "_publish_in", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
        db.replace_tables({"a": pd.DataFrame({"x": [7, 8]}), "b": pd.DataFrame({"y": [1]})}, run_key="new")
    assert db.read_table("a")["x"].tolist() == [1]
    assert tables(db) == ["a"]  # the failed run's scratch tables are gone too


def test_prepare_end_to_end_on_this_database(db, cli, home):
    path = write_csv(raw_leads(25), home / "leads.csv")
    status, out, err = cli("prepare", "--input", path, "--db", db.url)
    assert status == 0, err
    model_input = db.read_table("model_input")
    assert len(model_input) == 25 and model_input["lead_id"].is_unique
    assert str(model_input["created_date"].dtype).startswith("datetime64")
