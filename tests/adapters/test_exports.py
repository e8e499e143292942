"""Spreadsheet-safe CSV exports: text that a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import pandas as pd

from lead_scoring.adapters.exports import spreadsheet_safe, write_spreadsheet_csv
from tests.factories import cells


def test_text_cells_that_start_a_formula_get_a_quote():
    frame = pd.DataFrame(
        {
            "lead_id": ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tx", "\rx"],
            "note": ["plain", "a=b", "", None, "x-y", "'quoted"],
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["lead_id"].tolist() == [
        '\'=HYPERLINK("http://x","y")',
        "'+cmd|' /C calc'!A0",
        "'@SUM(1+1)",
        "'-2+3",
        "'\tx",
        "'\rx",
    ]
    assert cells(safe["note"]) == ["plain", "a=b", "", None, "x-y", "'quoted"]  # only the first character counts
    assert frame["lead_id"].iloc[0] == '=HYPERLINK("http://x","y")'  # the input is not changed


def test_numbers_stay_numbers_and_mixed_columns_escape_only_their_text():
    frame = pd.DataFrame(
        {
            "score": [-0.5, 0.25, -1e-9],
            "count": pd.Series([-3, 0, 7], dtype="int64"),
            "when": pd.to_datetime(["2021-12-01", "2021-12-02", None]),
            "mixed": pd.Series([-1, "=1", None], dtype=object),
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["score"].tolist() == [-0.5, 0.25, -1e-9] and safe["score"].dtype == "float64"
    assert safe["count"].tolist() == [-3, 0, 7] and safe["count"].dtype == "int64"
    assert safe["when"].dtype == frame["when"].dtype  # still a datetime, in its own unit
    assert safe["mixed"].tolist() == [-1, "'=1", None]


def test_column_names_are_escaped_too():
    assert list(spreadsheet_safe(pd.DataFrame({"=cmd": [1], "score": [2]})).columns) == ["'=cmd", "score"]


def test_the_writer_writes_the_safe_frame(tmp_path):
    path = write_spreadsheet_csv(
        pd.DataFrame({"lead_id": ["=1+1", "L1"], "score": [-0.5, 0.9]}), tmp_path / "out" / "scores.csv"
    )
    assert path.read_text() == "lead_id,score\n'=1+1,-0.5\nL1,0.9\n"
    assert [p.name for p in path.parent.iterdir()] == ["scores.csv"]  # no temporary file left


def test_the_daily_outbox_file_is_the_days_leads_hottest_first_whatever_order_the_scratch_returns(settings):
    from lead_scoring.adapters.staging import StagingDatabase
    from lead_scoring.pipelines import inference as ip

    scored = pd.DataFrame(
        {
            "lead_id": ["L2", "L1", "@L3", "L4"],
            "score": [0.2, 0.9, 0.5, 0.9],
            "predicted_label": [0, 1, 1, 1],
            "bucket": ["cold", "hot", "warm", "hot"],
            "top_reasons": ["a", "b", "c", "d"],
            "model_name": "lead_scoring",
            "model_version": "3",
            "scored_at": pd.Timestamp("2021-12-02 01:00"),
        }
    )
    db = StagingDatabase(settings.db_url)
    try:
        db.write_scratch(ip._key("2021-12-01T00:00:00+00:00"), ip.SCORED, scored)
    finally:
        db.dispose()
    path = ip.outbox_step(settings, "2021-12-01T00:00:00+00:00")
    assert path == str(settings.home / "outbox" / "scored_2021-12-01.csv")
    written = pd.read_csv(path, dtype={"lead_id": str})
    assert written["lead_id"].tolist() == ["L1", "L4", "'@L3", "L2"]  # ties by lead id; @ would run as a formula
    assert written["top_reasons"].tolist() == ["b", "d", "c", "a"]
    assert list(written.columns) == [
        "lead_id", "score", "predicted_label", "bucket", "top_reasons", "model_name", "model_version", "scored_at"
    ]  # fmt: skip
