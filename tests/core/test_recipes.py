"""The recipes: recency weights, and the choice on backtest months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.recipes import PLAIN, Recipe, RecipeMonth, choose_recipe

A = Recipe("a", target=True, frequency=True)
B = Recipe("b", half_life_days=30.0)


def test_recency_weights_halve_every_half_life_before_the_newest_lead():
    dates = ["2021-11-30 00:00", "2021-10-31 00:00", "2021-10-01 00:00", "2021-11-15 12:00"]
    leads = pd.DataFrame({"created_date": pd.to_datetime(dates)})
    weights = Recipe("r", half_life_days=30.0).weights(leads)
    np.testing.assert_allclose(weights, [1.0, 0.5, 0.25, 2 ** -(14.5 / 30)])
    assert PLAIN.weights(leads) is None


def months(**auc: tuple[float, float]) -> tuple[RecipeMonth, ...]:
    return tuple(
        RecipeMonth(name, month, value)
        for name, values in auc.items()
        for month, value in zip(("2021-10", "2021-11"), values, strict=True)
    )


def test_the_best_mean_backtest_auc_wins():
    choice = choose_recipe((PLAIN, A, B), months(plain=(0.80, 0.78), a=(0.82, 0.79), b=(0.81, 0.79)), 0.005)
    assert choice.chosen == A
    assert [row["mean"] for row in choice.table()] == [0.79, 0.805, 0.8]
    assert [row["chosen"] for row in choice.table()] == [False, True, False]


def test_a_candidate_worse_than_plain_in_one_month_by_more_than_the_tolerance_is_not_chosen():
    # a has the best mean but loses 0.006 to plain in November
    choice = choose_recipe((PLAIN, A, B), months(plain=(0.80, 0.78), a=(0.84, 0.774), b=(0.81, 0.779)), 0.005)
    assert choice.chosen == B


def test_on_a_tie_the_simpler_earlier_candidate_stays():
    choice = choose_recipe((PLAIN, A), months(plain=(0.80, 0.78), a=(0.80, 0.78)), 0.005)
    assert choice.chosen == PLAIN
    assert "plain" in choice.reason


def test_an_encoded_recipe_without_raw_city_drops_the_city_categorical():
    features = Recipe("x", target=True, raw_city=False).features(30)
    assert features.encoding is not None and features.encoding.target and not features.encoding.frequency
    assert "city_mapped" not in features.categorical_features()
    assert pytest.approx(30.0) == features.encoding.prior_strength


def test_a_fit_weighs_the_leads_by_recency():
    """Identical leads, all converted 100 days ago and 20% converted now: nothing to split on, so the
    score is the weighted conversion rate. Equal weights: 120 / 200 = 0.6. A half-life of 10 days
    weighs the old leads 2**-10 each: (100 * 2**-10 + 20) / (100 * 2**-10 + 100) = 0.2008."""
    from lead_scoring.core.fitting import LIGHTGBM_PARAMS, fit_scorer
    from tests.factories import model_input_frame

    frame = model_input_frame(200).assign(
        created_date=pd.to_datetime(["2021-07-01 00:00"] * 100 + ["2021-10-09 00:00"] * 100),
        app_complete_flag=[1] * 100 + [1] * 20 + [0] * 80,
    )
    params = {**LIGHTGBM_PARAMS, "n_estimators": 5}
    plain = fit_scorer(frame, params, 30).predict_proba(frame.head(1))[0]
    old = 100 * 2**-10
    recent = fit_scorer(frame, params, 30, Recipe("r", half_life_days=10.0)).predict_proba(frame.head(1))[0]
    assert plain == pytest.approx(0.6, abs=1e-6)
    assert recent == pytest.approx((old + 20) / (old + 100), abs=1e-6)


def test_a_later_candidate_must_beat_the_best_before_it_by_more_than_the_minimum_gain():
    # b's mean beats a's by 0.0005 only (noise): a stays; plain -> a gains 0.015
    choice = choose_recipe((PLAIN, A, B), months(plain=(0.80, 0.78), a=(0.82, 0.79), b=(0.821, 0.79)), 0.005)
    assert choice.chosen == A
    # and a gain of 0.002 is taken
    choice = choose_recipe((PLAIN, A, B), months(plain=(0.80, 0.78), a=(0.82, 0.79), b=(0.824, 0.79)), 0.005)
    assert choice.chosen == B
