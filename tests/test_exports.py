"""Spreadsheet-safe CSV exports: text that a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import pandas as pd

from lead_scoring.exports import spreadsheet_safe, write_spreadsheet_csv


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
    assert safe["note"].tolist() == ["plain", "a=b", "", None, "x-y", "'quoted"]  # only the first character counts
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
    assert safe["when"].dtype == "datetime64[ns]"
    assert safe["mixed"].tolist() == [-1, "'=1", None]


def test_column_names_are_escaped_too():
    assert list(spreadsheet_safe(pd.DataFrame({"=cmd": [1], "score": [2]})).columns) == ["'=cmd", "score"]


def test_the_writer_writes_the_safe_frame(tmp_path):
    path = write_spreadsheet_csv(
        pd.DataFrame({"lead_id": ["=1+1", "L1"], "score": [-0.5, 0.9]}), tmp_path / "out" / "scores.csv"
    )
    assert path.read_text() == "lead_id,score\n'=1+1,-0.5\nL1,0.9\n"
    assert [p.name for p in path.parent.iterdir()] == ["scores.csv"]  # no temporary file left
