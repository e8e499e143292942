"""What the pipelines take from their drivers: Airflow's aware interval bounds as naive UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd

from lead_scoring.pipelines.steps import naive_utc


def test_an_aware_bound_becomes_the_same_moment_in_naive_utc():
    two_hours_east = timezone(timedelta(hours=2))
    assert naive_utc(datetime(2021, 12, 2, 1, 30, tzinfo=two_hours_east)) == pd.Timestamp("2021-12-01 23:30")
    assert naive_utc("2021-12-02T00:00:00+00:00").tzinfo is None


def test_a_naive_bound_is_read_as_utc_already():
    assert naive_utc("2021-12-02 06:00") == pd.Timestamp("2021-12-02 06:00")
