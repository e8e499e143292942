"""The one-line refusals of a raw lead export: which row, which column, which problem first (issue #13).

Each message is written out in full: the line numbers count the header as line 1, so the first lead
(index 0) is on line 2.
"""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.core.validation import validate_raw_leads
from lead_scoring.errors import InputDataError
from tests.factories import as_text, raw_leads


def refusal(text: pd.DataFrame) -> str:
    with pytest.raises(InputDataError) as caught:
        validate_raw_leads(text, "test.csv")
    return str(caught.value)


def leads(**cells: dict[int, str | None]) -> pd.DataFrame:
    """Five valid leads as text, with the given cells ({row: text}) per column replaced."""
    text = as_text(raw_leads(5))
    for column, values in cells.items():
        for row, value in values.items():
            text.loc[row, column] = value
    return text


def with_ids(ids: list[str | None]) -> pd.DataFrame:
    text = leads()
    text.insert(0, "lead_id", ids)
    return text


def test_given_lead_ids_are_kept_stripped():
    typed, report = validate_raw_leads(with_ids([" a", "b ", "c", "d", "e"]), "test.csv")
    assert typed["lead_id"].tolist() == ["a", "b", "c", "d", "e"] and not report.ids_derived


def test_an_empty_or_blank_lead_id_is_refused_with_the_first_line():
    # index 1 is blank once stripped, index 2 empty: two rows, the first on line 3
    assert refusal(with_ids(["a", "  ", None, "d", "e"])) == "test.csv: column 'lead_id': 2 row(s) missing, e.g. line 3"
    assert refusal(with_ids(["a", "b", "c", "", "e"])) == "test.csv: column 'lead_id': 1 row(s) missing, e.g. line 5"


def test_a_lead_id_shared_by_different_rows_is_refused_with_the_first_shared_id():
    assert refusal(with_ids(["a", "b", "a", "c", "b"])) == (
        "test.csv: column 'lead_id': 4 row(s) share an id with different content, e.g. 'a'"
    )


def test_a_missing_created_date_is_refused_as_missing():
    assert (
        refusal(leads(created_date={1: None}))
        == "test.csv: column 'created_date': 1 row(s) missing, e.g. empty on line 3"
    )


def test_a_missing_label_is_refused_as_missing():
    assert refusal(leads(app_complete_flag={3: None})) == (
        "test.csv: column 'app_complete_flag': 1 row(s) missing, e.g. empty on line 5"
    )


def test_the_first_column_in_file_order_is_reported_and_the_others_named():
    text = leads(created_date={0: "yesterday"}, referred_lead={1: "2"}, syllabus_expand={2: "-1"})
    assert refusal(text) == (
        "test.csv: column 'created_date': 1 row(s) not a date-time (expected YYYY-MM-DD HH:MM:SS), "
        "e.g. 'yesterday' on line 2 (also problems in: referred_lead, syllabus_expand)"
    )


def test_file_order_wins_over_row_order_and_over_the_kind_of_problem():
    # the count's parse failure is on an earlier row and ranks before "missing", yet created_date comes first
    text = leads(created_date={2: None}, total_leads_droppped={0: "many"})
    assert refusal(text) == (
        "test.csv: column 'created_date': 1 row(s) missing, e.g. empty on line 4 "
        "(also problems in: total_leads_droppped)"
    )


@pytest.mark.parametrize(
    ("column", "cells", "message"),
    [
        (
            "created_date",
            {0: None, 1: "yesterday"},
            "column 'created_date': 1 row(s) not a date-time (expected YYYY-MM-DD HH:MM:SS), "
            "e.g. 'yesterday' on line 3",
        ),
        ("referred_lead", {0: "2", 1: "x"}, "column 'referred_lead': 1 row(s) not a number, e.g. 'x' on line 3"),
        ("app_complete_flag", {0: "7", 1: None}, "column 'app_complete_flag': 1 row(s) missing, e.g. empty on line 3"),
        (
            "total_leads_droppped",
            {0: "-4", 1: "many"},
            "column 'total_leads_droppped': 1 row(s) not a number, e.g. 'many' on line 3",
        ),
    ],
)
def test_in_one_column_the_problem_that_ranks_first_is_reported_not_the_first_row(column, cells, message):
    """A value that does not parse, then a missing one, then one out of its domain: whatever their rows."""
    assert refusal(leads(**{column: cells})) == f"test.csv: {message}"


def test_the_count_is_of_the_reported_column_only():
    # the same problem in two columns: one row each, not two
    text = leads(syllabus_expand={0: "-4.0"}, chat_clicked={1: "-2"})
    assert refusal(text) == (
        "test.csv: column 'chat_clicked': 1 row(s) negative, e.g. '-2' on line 3 (also problems in: syllabus_expand)"
    )


def test_a_negative_count_of_dropped_leads_is_refused():
    assert refusal(leads(total_leads_droppped={2: "-3"})) == (
        "test.csv: column 'total_leads_droppped': 1 row(s) negative, e.g. '-3' on line 4"
    )


def test_an_export_without_rows_is_refused_by_name():
    assert refusal(leads().head(0)) == "test.csv: no lead rows"


def test_missing_columns_are_named_five_at_most_with_a_count_of_the_rest():
    text = leads()
    five = ["city_mapped", "first_platform_c", "first_utm_medium_c", "first_utm_source_c", "total_leads_droppped"]
    assert refusal(text.drop(columns=five)) == (
        "test.csv: missing required column(s): "
        "city_mapped, first_platform_c, first_utm_medium_c, first_utm_source_c, total_leads_droppped"
    )
    assert refusal(text.drop(columns=[*five, "referred_lead"])) == (
        "test.csv: missing required column(s): "
        "city_mapped, first_platform_c, first_utm_medium_c, first_utm_source_c, total_leads_droppped and 1 more"
    )


def test_derived_ids_come_first_and_the_label_is_an_integer():
    typed, report = validate_raw_leads(leads(), "test.csv")
    assert report.ids_derived is True
    assert typed.columns[0] == "lead_id"
    assert typed["lead_id"].str.fullmatch(r"L[0-9a-f]{16}").all()
    assert typed["app_complete_flag"].dtype == "int64"


@pytest.mark.parametrize("value", ["1e308", "1000001", "1e20"])
def test_an_absurd_count_is_refused_at_the_documented_ceiling(value):
    """Two counters of 1e308 overflow the group sums to inf; 1e20 wraps around in an int cast (issue #23)."""
    assert refusal(leads(chat_clicked={1: value})) == (
        f"test.csv: column 'chat_clicked': 1 row(s) above the ceiling of 1,000,000, e.g. '{value}' on line 3"
    )


def test_an_absurd_count_of_dropped_leads_is_refused_too():
    assert refusal(leads(total_leads_droppped={0: "1e20"})) == (
        "test.csv: column 'total_leads_droppped': 1 row(s) above the ceiling of 1,000,000, e.g. '1e20' on line 2"
    )


def test_a_count_at_the_ceiling_is_accepted():
    typed, _ = validate_raw_leads(leads(chat_clicked={1: "1000000"}), "test.csv")
    assert typed["chat_clicked"].iloc[1] == 1_000_000.0


def test_one_pass_finds_every_failing_cell_of_every_column():
    """The rules run once over the frame, vectorized: each failing cell is one case (its row label,
    column and check); the rows' labels are the frame's, and a column whose text does not parse is
    not checked further (its values are unknown), but its missing cells are still missing."""
    from lead_scoring.core.validation import _apply_rules, _raw_schema

    text = leads(
        created_date={1: "05/08/2021", 3: None},
        referred_lead={0: "2", 4: "1"},
        total_leads_droppped={2: "-1", 4: "1e20"},
        view_programs_page={0: "lots", 1: "-5"},
    ).set_axis([10, 11, 12, 13, 14])
    read, cases = _apply_rules(text, _raw_schema(with_label=False))
    found = sorted(zip(cases["index"], cases["column"], cases["check"], strict=True))
    assert found == [
        (10, "referred_lead", "isin([0, 1])"),
        (10, "view_programs_page", "coerce_dtype('float64')"),
        (11, "created_date", "coerce_dtype('datetime64[ns]')"),
        (12, "total_leads_droppped", "greater_than_or_equal_to(0)"),
        (13, "created_date", "not_nullable"),
        (14, "total_leads_droppped", "ceiling"),
    ]
    assert "created_date" not in read and "view_programs_page" not in read
    assert read["referred_lead"].dtype == "float64" and read["referred_lead"][4] == 1.0
