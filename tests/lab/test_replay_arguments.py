"""`lead-scoring replay` is safe and strict: its own home, ISO days, the user's file in errors (#29, 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lead_scoring.lab.generate import generate_leads
from tests.factories import write_csv


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_csv(generate_leads(300, seed=3, start="2021-07-01", end="2021-07-31"), tmp_path / "mine.csv")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    return lines[0]


@pytest.mark.parametrize(
    "day",
    [
        "2300-01-01",  # past pandas' nanosecond range
        "1600-01-01",
        "2021-07-15+05:00",  # an offset
        "2021-07-15T00:00",
        "07/15/2021",  # month first
        "15/07/2021",
        "2021-7-15",
        "2021-02-30",
        "today",
        "20210715",
        " 2021-07-15",
    ],
)
@pytest.mark.parametrize("flag", ["--from", "--to"])
def test_from_and_to_are_iso_days_inside_pandas_range(flag, day, export, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path / "own"))
    days = {"--from": "2021-07-15", "--to": "2021-07-20", flag: day}
    status, _, err = cli("replay", "--input", export, "--from", days["--from"], "--to", days["--to"])
    assert status == 2
    assert one_line(err).startswith(f"error: {flag} ")


@pytest.mark.parametrize("live", ["lead_scoring.db", "mlflow.db", "mlruns", "notes.txt"])
def test_a_home_holding_anything_but_a_replay_is_refused(live, export, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path / "own"))
    home = tmp_path / "busy"
    home.mkdir()
    (home / live).mkdir() if live == "mlruns" else (home / live).write_text("live")
    status, _, err = cli("replay", "--input", export, "--from", "2021-07-15", "--to", "2021-07-16", "--home", home)
    assert status == 2 and one_line(err).startswith(f"error: --home {home}")
    assert sorted(p.name for p in home.iterdir()) == [live]  # nothing written beside it


def test_the_live_home_is_refused_even_while_empty(export, tmp_path, monkeypatch, cli):
    own = tmp_path / "own"
    own.mkdir()
    monkeypatch.setenv("LEAD_SCORING_HOME", str(own))
    status, _, err = cli("replay", "--input", export, "--from", "2021-07-15", "--to", "2021-07-16", "--home", own)
    assert status == 2 and "live staging database or registry" in one_line(err)
    assert list(own.iterdir()) == []


def test_an_error_names_the_users_file_never_a_temporary_copy(export, tmp_path, monkeypatch, cli):
    """No lead before --from: the history the replay trains on is empty; the message is about mine.csv."""
    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path / "own"))
    status, _, err = cli("replay", "--input", export, "--from", "2021-07-01", "--to", "2021-07-02")
    line = one_line(err)
    assert status == 2 and str(export) in line
    assert "lead-scoring-replay-" not in line and "history.csv" not in line
