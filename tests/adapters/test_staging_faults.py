"""Faults of the staging database (#29, item 9): read-only, locked, out of space. Exit 2 and one line
naming the database; the published tables as they were; no scratch table left behind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import raw_leads, write_csv


def tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def leads_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM model_input").fetchone()[0])


@pytest.fixture
def published(home: Path, cli) -> Path:
    """A staging database with 40 leads published; a bigger export waits beside it."""
    status, _, err = cli("prepare", "--input", write_csv(raw_leads(40), home / "small.csv"))
    assert status == 0, err
    write_csv(raw_leads(3000), home / "big.csv")
    return home / "lead_scoring.db"


def assert_untouched(db: Path, err: str, shown: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and shown in lines[0], err[-3000:]
    assert leads_in(db) == 40
    assert [t for t in tables(db) if t.startswith("_scratch_")] == []


def test_a_read_only_database(published, home, cli, monkeypatch):
    url = f"sqlite:///file:{published}?mode=ro&uri=true"
    monkeypatch.setenv("LEAD_SCORING_DB_URL", url)
    status, _, err = cli("prepare", "--input", home / "big.csv", "--allow-shrink")
    assert status == 2
    assert_untouched(published, err, url)
    assert "read-only" in err


def test_a_locked_database(published, home, cli, monkeypatch):
    monkeypatch.setenv("LEAD_SCORING_DB_URL", f"sqlite:///{published}?timeout=0.2")
    holder = sqlite3.connect(published, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        status, _, err = cli("prepare", "--input", home / "big.csv")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 2
    assert_untouched(published, err, str(published))
    assert "locked by another run" in err


OUT_OF_SPACE = """
import resource, sys
import pandas as pd
limit, db, command = int(sys.argv[1]), sys.argv[2], sys.argv[3]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # a disk that is full past this size
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.cli import main
if command == "prepare":
    sys.exit(main(["prepare", "--input", "big.csv"]))
rows = pd.DataFrame({"lead_id": [f"x{i}" for i in range(60_000)], "note": ["y" * 40] * 60_000})
StagingDatabase(f"sqlite:///{db}").merge_rows("k", "notes", rows, keys=["lead_id"])
"""


@pytest.mark.parametrize("command", ["prepare", "merge"])
def test_out_of_space(command, published, home):
    """``prepare`` publishes five tables at once; a merge (what scoring, feedback and alarms write)
    upserts through a scratch table: neither leaves one behind when the disk fills up."""
    limit = max(p.stat().st_size for p in home.glob("lead_scoring.db*")) + 20_000
    run = [sys.executable, "-c", OUT_OF_SPACE, str(limit), str(published), command]
    done = subprocess.run(run, capture_output=True, text=True, cwd=home, timeout=300)
    if command == "prepare":
        assert done.returncode == 2
        assert_untouched(published, done.stderr, str(published))
    else:  # no CLI here: the error type says it would be one line
        assert "StagingWriteError: the staging database" in done.stderr and str(published) in done.stderr
        assert [t for t in tables(published) if t.startswith("_scratch_")] == []
        assert "notes" not in tables(published)
