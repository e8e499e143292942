"""Labels are not taken on trust (issue #23.2): ISO dates only, no offset, and outcomes dated after they
arrived or before their lead was created are ignored and counted, one count per rule."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.core.feedback import screen_outcomes, validate_outcomes
from lead_scoring.errors import InputDataError

COLUMNS = ["lead_id", "app_complete_flag", "outcome_at"]


def text(rows: list[list[str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS, dtype=object)


def refusal(rows: list[list[str | None]]) -> str:
    with pytest.raises(InputDataError) as caught:
        validate_outcomes(text(rows), "out.csv")
    return str(caught.value)


def test_a_day_first_date_is_refused_not_read_as_month_first():
    # 05/01/2022 was read as May 1st
    assert refusal([["L2", "0", "05/01/2022"], ["L1", "1", "2022-01-04"]]) == (
        "out.csv: column 'outcome_at': 1 row(s) not a date-time (expected YYYY-MM-DD[ HH:MM:SS]), "
        "e.g. '05/01/2022' on line 2"
    )


@pytest.mark.parametrize("moment", ["2022-01-05T10:00:00+05:00", "2022-01-05 10:00:00Z", "2022-01-05T10:00-0130"])
def test_an_offset_is_a_one_line_error(moment):
    assert refusal([["L1", "1", moment]]) == (
        "out.csv: column 'outcome_at': 1 row(s) carry a time-zone offset (give UTC date-times without one), "
        f"e.g. '{moment}' on line 2"
    )


def test_iso_dates_with_and_without_a_time_are_read():
    checked = validate_outcomes(text([["L1", "1", "2022-01-05"], ["L2", "0", "2022-01-05T10:30:00"]]), "out.csv")
    assert checked.frame["outcome_at"].tolist() == [pd.Timestamp("2022-01-05"), pd.Timestamp("2022-01-05 10:30")]


def outcomes(rows: list[tuple[str, int, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "app_complete_flag": [r[1] for r in rows],
            "outcome_at": pd.to_datetime([r[2] for r in rows], format="ISO8601"),
        }
    )


CREATED = pd.DataFrame(
    {
        "lead_id": ["L1", "L2", "L3", "L4"],
        "created_date": pd.to_datetime(
            ["2021-12-01 10:00", "2021-12-02 09:00", "2021-12-03 08:00", "2021-12-04 00:00"]
        ),
    }
)
ARRIVED = pd.Timestamp("2021-12-20 12:00")


def test_an_outcome_after_its_arrival_or_before_its_lead_is_ignored_and_counted():
    screened = screen_outcomes(
        outcomes(
            [
                ("L1", 1, "2099-12-31"),  # in the future: would make a wrong label permanent
                ("L2", 0, "2021-12-01"),  # the day before the lead was created
                ("L3", 1, "2021-12-03"),  # the lead's own day (a date without a time): fine
                ("L4", 0, None),  # no moment: nothing to check
                ("L9", 1, "2021-11-01"),  # a lead not scored yet: checked when it is matched
                ("L5", 1, "2021-12-20 12:09"),  # within the clock skew of the arrival
            ]
        ),
        CREATED,
        arrived=ARRIVED,
        clock_skew=pd.Timedelta(minutes=10),
    )
    assert screened.kept["lead_id"].tolist() == ["L3", "L4", "L9", "L5"]
    assert (screened.after_arrival, screened.before_lead) == (1, 1)
    assert screened.kept.index.tolist() == [0, 1, 2, 3]


def test_one_minute_beyond_the_clock_skew_is_after_arrival():
    screened = screen_outcomes(
        outcomes([("L1", 1, "2021-12-20 12:11")]), CREATED, arrived=ARRIVED, clock_skew=pd.Timedelta(minutes=10)
    )
    assert screened.kept.empty and (screened.after_arrival, screened.before_lead) == (1, 0)
