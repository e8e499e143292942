"""`replay --base-rate R`: the converting leads of each replayed month are thinned at random (seeded)
until the month converts at R; the months before (the first champion's training leads) are untouched."""

from __future__ import annotations

import pandas as pd

from lead_scoring.lab.replay import thin_conversions


def export() -> tuple[pd.DataFrame, pd.Series]:
    # September: 10 leads, 6 converting; October: 20 leads, 12 converting; November: 10 leads, 4 converting
    days = ["2021-09-10"] * 10 + ["2021-10-05"] * 20 + ["2021-11-05"] * 10
    labels = [1] * 6 + [0] * 4 + [1] * 12 + [0] * 8 + [1] * 4 + [0] * 6
    raw = pd.DataFrame({"created_date": days, "app_complete_flag": labels, "n": range(40)})
    return raw, pd.to_datetime(raw["created_date"])


def test_each_replayed_month_converts_at_the_rate_and_the_training_month_is_untouched():
    raw, days = export()
    thinned = thin_conversions(raw, days, pd.Timestamp("2021-10-01"), pd.Timestamp("2021-11-30"), 0.5)
    month = pd.to_datetime(thinned["created_date"]).dt.to_period("M").astype(str)
    rates = thinned.groupby(month)["app_complete_flag"].agg(["sum", "count"]).to_dict("index")
    # September as exported; October: 8 unconverted leads keep 8 of the 12 converting (0.5);
    # November already converts below 0.5 (4 of 10): kept whole
    assert rates == {"2021-09": {"sum": 6, "count": 10}, "2021-10": {"sum": 8, "count": 16},
                     "2021-11": {"sum": 4, "count": 10}}  # fmt: skip
    again = thin_conversions(raw, days, pd.Timestamp("2021-10-01"), pd.Timestamp("2021-11-30"), 0.5)
    assert thinned["n"].tolist() == again["n"].tolist()  # seeded: the same leads go every time
