"""The staging database: atomic publish, scratch clean-up, keyed merges."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.errors import MissingTableError
from lead_scoring.staging import StagingDatabase


@pytest.fixture
def db(tmp_path):
    database = StagingDatabase(f"sqlite:///{tmp_path / 'stage.db'}")
    yield database
    database.dispose()


def test_replace_tables_publishes_all_and_leaves_no_scratch(db):
    db.replace_tables({"a": pd.DataFrame({"x": [1, 2]}), "b": pd.DataFrame({"y": ["p"]})}, run_key="k1")
    assert db.read_table("a")["x"].tolist() == [1, 2]
    assert sorted(db.query("SELECT name FROM sqlite_master WHERE type='table'")["name"]) == ["a", "b"]


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
    assert sorted(db.query("SELECT name FROM sqlite_master WHERE type='table'")["name"]) == ["predictions"]
