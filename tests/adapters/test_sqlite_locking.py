"""Two writers on one SQLite staging database: the second waits for the first, or says it is busy."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters import bulk
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.errors import StagingBusyError
from lead_scoring.schema import MODEL_INPUT, SCORING_RUNS
from tests.factories import raw_leads, write_csv


@contextmanager
def write_lock(path: Path, until: threading.Event | None = None, timeout: float = 0) -> Iterator[None]:
    """Another process's writer: holds the database's write lock (with a write of its own), commits on exit
    or, in a thread, once ``until`` is set (at the latest after ``timeout`` seconds)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS other_writer (x INTEGER)")
    conn.execute("INSERT INTO other_writer VALUES (1)")

    def commit() -> None:
        if until is not None:
            until.wait(timeout)
        conn.execute("COMMIT")
        conn.close()

    if until is None:
        try:
            yield
        finally:
            commit()
        return
    thread = threading.Thread(target=commit)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def model_input_rows(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {MODEL_INPUT}")).scalar_one()
    finally:
        engine.dispose()


def test_a_second_writer_waits_for_the_first_and_succeeds(home, cli, monkeypatch):
    """The other writer commits while prepare waits for the lock. A deferred transaction has read the
    schema by then and can only fail ("database is locked", whatever the busy timeout); one that takes
    the lock at BEGIN waits and then writes."""
    db_path = home / "lead_scoring.db"
    assert cli("prepare", "--input", write_csv(raw_leads(6), home / "first.csv"))[0] == 0
    waiting = threading.Event()
    real_write = bulk.write_frame

    def noting_write(*args, **kwargs):  # noqa: ANN002, ANN003
        waiting.set()  # a deferred writer gets here holding a read snapshot, before it needs the lock
        return real_write(*args, **kwargs)

    monkeypatch.setattr(bulk, "write_frame", noting_write)
    with write_lock(db_path, until=waiting, timeout=2):
        status, _, err = cli("prepare", "--input", write_csv(raw_leads(8), home / "second.csv"))
    assert status == 0, err
    assert model_input_rows(db_path) == 8


def test_a_lock_held_past_the_busy_timeout_is_one_line_and_writes_nothing(home, cli):
    db_path = home / "stage.db"
    url = f"sqlite:///{db_path}?timeout=0.2"
    assert cli("prepare", "--input", write_csv(raw_leads(6), home / "first.csv"), "--db", url)[0] == 0
    with write_lock(db_path):
        status, out, err = cli("prepare", "--input", write_csv(raw_leads(8), home / "second.csv"), "--db", url)
    assert status == 2
    assert err.splitlines() == [
        f"error: the staging database sqlite:///{db_path}?timeout=0.2 is locked by another run "
        "(waited 0.2 s for its write lock); nothing was written: run again when it has finished"
    ]
    assert model_input_rows(db_path) == 6
    engine = sa.create_engine(f"sqlite:///{db_path}")
    assert not [t for t in sa.inspect(engine).get_table_names() if t.startswith("_scratch_")]
    engine.dispose()


def test_a_scoring_run_record_is_not_lost_to_a_waiting_writer(tmp_path):
    """Two scoring runs record themselves in `scoring_runs` at once: both records land."""
    db_path = tmp_path / "stage.db"
    db = StagingDatabase(f"sqlite:///{db_path}")
    db.merge_rows("first", SCORING_RUNS, pd.DataFrame({"run_key": ["a"], "rows": [1]}), keys=["run_key"])
    waiting = threading.Event()
    real_write = bulk.write_frame

    def noting_write(*args, **kwargs):  # noqa: ANN002, ANN003
        waiting.set()
        return real_write(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bulk, "write_frame", noting_write)
        with write_lock(db_path, until=waiting, timeout=2):
            db.merge_rows("second", SCORING_RUNS, pd.DataFrame({"run_key": ["b"], "rows": [2]}), keys=["run_key"])
    assert db.read_table(SCORING_RUNS).sort_values("run_key")["run_key"].tolist() == ["a", "b"]
    with write_lock(db_path), pytest.raises(StagingBusyError):
        StagingDatabase(f"sqlite:///{db_path}?timeout=0.1").merge_rows(
            "third", SCORING_RUNS, pd.DataFrame({"run_key": ["c"], "rows": [3]}), keys=["run_key"]
        )
    assert db.read_table(SCORING_RUNS)["run_key"].tolist() == ["a", "b"]
    db.dispose()
