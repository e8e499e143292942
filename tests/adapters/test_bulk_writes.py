"""The staging database's bulk writes store exactly what pandas' own ``to_sql`` stores.

``write_frame`` binds rows through the driver's bulk path (``executemany`` on SQLite, ``COPY`` on
PostgreSQL) instead of ``to_sql``; the stored values, NULLs and text must not change with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters import bulk
from tests.factories import cells
from tests.postgres import postgres_url, staging_db  # noqa: F401 - fixtures


@pytest.fixture
def db(staging_db):  # noqa: F811 - the imported fixture
    return staging_db


def awkward_frame() -> pd.DataFrame:
    """Every kind of value the pipelines write, with the text COPY and NULL handling could get wrong."""
    return pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e", "f"],
            "created_date": pd.to_datetime(
                ["2021-07-01 00:00:00", "2021-07-01 23:59:59.5", None, "2021-12-31 08:15:00.000001", None, None],
                format="ISO8601",
            ),
            "text": ["plain", None, "", "tab\there", "line\nbreak\r\n", "back\\slash \\N"],
            "literal_null": ["\\N", "NULL", "nan", "None", "l'école", '"quoted"'],
            "number": [1.0, np.nan, 0.1, -2.5e-12, 1e300, 3.0],
            "count": np.array([0, 3, 7, 1_000_000, -1, 2**40], dtype="int64"),
            "flag": [True, False, True, False, True, False],
            "mixed": ["x", np.nan, None, "y", float("nan"), "z"],
            # the units scoring writes: pd.Timestamp(datetime) is in microseconds, of a date string in seconds
            "scored_at": np.array(["2021-12-01T09:30:00.25", None, "2021-12-01", None, None, None], "datetime64[us]"),
            "first_at": np.array(["2021-12-01T09:30:07", "2021-12-02", None, None, None, None], "datetime64[s]"),
        }
    )


def test_bulk_write_stores_what_to_sql_stores(db):
    frame = awkward_frame()
    with db.engine.begin() as conn:
        bulk.write_frame(conn, frame, "bulk")
        frame.to_sql("by_pandas", conn, index=False)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    with db.engine.connect() as conn:
        written = conn.execute(sa.text(f'SELECT {columns} FROM "bulk" ORDER BY lead_id')).all()
        by_pandas = conn.execute(sa.text(f'SELECT {columns} FROM "by_pandas" ORDER BY lead_id')).all()
        nulls = conn.execute(sa.text('SELECT COUNT(*) FROM "bulk" WHERE text IS NULL AND mixed IS NULL')).scalar()
    assert written == by_pandas
    assert nulls == 1  # missing values are SQL NULLs, not the text 'nan' or '\N'


def test_bulk_write_reads_back_as_the_frame(db):
    frame = awkward_frame()
    db.replace_tables({"bulk": frame}, run_key="bulk")
    read = db.read_table("bulk").sort_values("lead_id").reset_index(drop=True)
    expected = frame.assign(mixed=frame["mixed"].where(frame["mixed"].notna(), None))
    for col in ("scored_at", "first_at"):  # read_table parses created_date only; SQLite keeps the others as text
        read[col] = pd.to_datetime(read[col], format="ISO8601").astype("datetime64[ns]")
        expected[col] = expected[col].astype("datetime64[ns]")
    if db.engine.dialect.name == "sqlite":  # SQLite has no boolean type: pandas' to_sql stores 1/0
        expected["flag"] = expected["flag"].astype("int64")
    pd.testing.assert_frame_equal(read, expected)


def test_bulk_write_of_many_rows_spans_chunks(db, monkeypatch):
    monkeypatch.setattr(bulk, "_WRITE_CHUNK", 7)
    frame = pd.DataFrame({"i": np.arange(50, dtype="int64"), "x": np.where(np.arange(50) % 3, 1.5, np.nan)})
    db.replace_tables({"bulk": frame}, run_key="chunks")
    read = db.read_table("bulk").sort_values("i").reset_index(drop=True)
    pd.testing.assert_frame_equal(read, frame)


def test_derived_tables_store_the_same_as_independent_writes(db):
    """Tables written together share unchanged columns (copied inside SQLite): the stored rows must not change."""
    base = awkward_frame()
    derived = base.drop(columns=["text"]).assign(number=base["number"] * 2, extra=["p", None, "q", "r", "s", "t"])
    narrower = derived[["lead_id", "count", "extra"]].rename(columns={"count": "renamed"})
    frames = {"base": base, "derived": derived, "narrower": narrower}
    db.replace_tables(frames, run_key="together")
    together = {name: db.read_table(name) for name in frames}
    for name, frame in frames.items():
        db.replace_tables({name: frame}, run_key="alone")
        alone = db.read_table(name)
        pd.testing.assert_frame_equal(together[name], alone)
        assert list(alone.columns) == list(frame.columns)
    assert together["derived"]["number"].tolist()[:1] == [2.0]  # changed columns are the new values
    assert cells(together["derived"]["extra"]) == ["p", None, "q", "r", "s", "t"]


def test_columns_are_copied_only_from_the_same_rows():
    """A frame whose rows differ (filtered or reordered) never borrows another frame's columns."""
    base = awkward_frame()
    assert bulk.columns_to_copy(base.drop(columns=["text"]), {"t": base}) == {
        col: "t" for col in base.columns if col != "text"
    }
    assert bulk.columns_to_copy(base.iloc[::-1], {"t": base}) == {}
    assert bulk.columns_to_copy(base.iloc[:3], {"t": base}) == {}
    changed = base.assign(number=base["number"].fillna(0.0))
    assert "number" not in bulk.columns_to_copy(changed, {"t": base})
