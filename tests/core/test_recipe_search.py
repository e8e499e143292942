"""Training chooses its recipe on the backtest months only, and serves the chosen one."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lead_scoring.core import fitting
from lead_scoring.core.recipes import PLAIN, Recipe, RecipeSearch
from lead_scoring.core.training import train
from tests.core.test_training import _generated_model_input
from tests.factories import training_knobs

ENCODED = Recipe("encoded", target=True, frequency=True, prior_strength=30.0)


def test_each_candidate_is_backtested_on_leads_before_each_month_and_the_chosen_one_serves(settings, monkeypatch):
    model_input = _generated_model_input(settings)
    fits: list[tuple[str, pd.Timestamp, pd.Timestamp | None]] = []  # recipe, newest lead fitted, oldest scored
    real = fitting.fit_scorers

    def spy(jobs, params, min_level_count, workers=None, recipes=None):  # noqa: ANN001, ANN202
        for key, (leads, scored) in jobs.items():
            recipe = (recipes or {}).get(key, PLAIN)
            fits.append(
                (recipe.name, leads["created_date"].max(), None if scored is None else scored["created_date"].min())
            )
        return real(jobs, params, min_level_count, workers, recipes)

    monkeypatch.setattr("lead_scoring.core.backtest.fit_scorers", spy)
    monkeypatch.setattr("lead_scoring.core.training.fit_scorers", spy)
    knobs = training_knobs(min_leads=500, min_conversions=100, search=RecipeSearch((PLAIN, ENCODED), tolerance=0.005))
    result = train(model_input, knobs, params={"n_estimators": 20})
    choice = result.recipe_choice
    assert choice is not None
    assert [(m.recipe, m.month) for m in choice.months] == [
        (r, m) for r in ("plain", "encoded") for m in ("2021-10", "2021-11", "2021-12")
    ]
    # every fit that scores leads saw none of them, nor a later one
    assert all(newest < oldest for _, newest, oldest in fits if oldest is not None)
    # both candidates fitted every backtest month
    for name in ("plain", "encoded"):
        assert sum(1 for r, _, oldest in fits if r == name and oldest is not None) >= 4  # Sep (cut) .. Dec
    # the served scorer and the policy's folds are the chosen recipe's
    assert result.recipe == choice.chosen
    assert (result.scorer.features.encoding is not None) == (choice.chosen == ENCODED)
    december = model_input[model_input["created_date"].dt.strftime("%Y-%m") == "2021-12"]
    chosen_december = next(m.auc for m in choice.months if m.recipe == choice.chosen.name and m.month == "2021-12")
    assert roc_auc_score(december["app_complete_flag"], result.reference_scores) == pytest.approx(chosen_december)


def test_one_candidate_is_no_search(settings):
    model_input = _generated_model_input(settings, rows=1500)
    knobs = training_knobs(min_leads=300, min_conversions=50, search=RecipeSearch())
    result = train(model_input, knobs, params={"n_estimators": 5})
    assert result.recipe_choice is None and result.recipe == PLAIN
    assert result.scorer.features.encoding is None


def test_the_settings_give_the_candidates_and_plain_turns_the_search_off(settings):
    search = settings.with_overrides(encoding_prior=12.0, recency_half_life_days=60.0).recipes
    assert [r.name for r in search.candidates] == [
        "plain",
        "recency",
        "encoded",
        "encoded+recency",
        "encoded+recency, no raw city",
    ]
    assert search.candidates[0] == PLAIN and search.tolerance == settings.promotion_tolerance
    assert {r.prior_strength for r in search.candidates if r.target} == {12.0}
    assert {r.half_life_days for r in search.candidates} == {0.0, 60.0}
    assert settings.with_overrides(recipe_search="plain").recipes.candidates == (PLAIN,)
