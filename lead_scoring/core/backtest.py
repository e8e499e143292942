"""The backtest, pure: rolling-origin folds, each month scored by a model fitted on the leads before it,
with the cut each decision rule would have set at the time."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core.fitting import (
    LIGHTGBM_PARAMS,
    choose_threshold,
    classification_metrics,
    fit_scorers,
    split_by_time,
)
from lead_scoring.core.knobs import BacktestKnobs
from lead_scoring.core.model import LeadScorer
from lead_scoring.core.policy import BacktestMonth
from lead_scoring.core.recipes import PLAIN, Recipe, RecipeChoice, RecipeMonth, RecipeSearch, choose_recipe
from lead_scoring.schema import CREATED_DATE, LABEL


def backtest_month_starts(model_input: pd.DataFrame, count: int, min_leads: int, min_conversions: int) -> list[Any]:
    """The last ``count`` whole calendar months that can be backtested, oldest first (fewer when the
    data is young): at least ``min_conversions`` leads of each class in the month, and ``min_leads``
    leads with ``min_conversions`` of each class before it to fit on.

    The month of the newest lead counts only when that lead was created on the month's last day: a
    few days of a month are a noisy month, and the gate reads the worst one.
    """
    created = model_input[CREATED_DATE]
    months = created.dt.to_period("M")
    labels = model_input[LABEL].astype(int)
    newest = created.max()
    eligible = []
    for month in sorted(months.unique(), reverse=True):
        if month == newest.to_period("M") and newest.normalize() != month.end_time.normalize():
            continue  # the month is still running
        before, inside = labels[months < month], labels[months == month]
        enough_before = len(before) >= min_leads and min(before.sum(), len(before) - before.sum()) >= min_conversions
        if enough_before and min(inside.sum(), len(inside) - inside.sum()) >= min_conversions:
            eligible.append(month)
        if len(eligible) == count:
            break
    return sorted(eligible)


@dataclass(frozen=True)
class _FoldPlan:
    """The fits a backtest needs: one per month, each on the leads before it."""

    months: list[pd.Period]  # the backtested months (pandas Periods), oldest first
    cut_month: object | None  # the eligible month before the first, scored only to set the first month's cut
    jobs: dict[
        Hashable, tuple[pd.DataFrame, pd.DataFrame | None]
    ]  # ("fold", month) | ("selector", month) -> (leads to fit on, leads to score)


def plan_backtest(model_input: pd.DataFrame, knobs: BacktestKnobs) -> _FoldPlan:
    count, max_leads = knobs.months, knobs.max_leads
    eligible = backtest_month_starts(model_input, count + 1, knobs.min_leads, knobs.min_conversions)
    months = eligible[-count:] if count > 0 else []
    cut_month = eligible[0] if months and len(eligible) > count else None  # no month to backtest: no fit at all
    period = model_input[CREATED_DATE].dt.to_period("M")
    jobs: dict[Hashable, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    for month in ([cut_month] if cut_month is not None else []) + months:
        before = model_input[period < month]
        if max_leads and len(before) > max_leads:  # the newest max_leads: a fold costs at most that much
            before = before.nlargest(max_leads, CREATED_DATE)
        jobs[("fold", month)] = (before, model_input[period == month])
        if month == months[0] and cut_month is None:
            # no month before the first to take the validation rule's cut from: its own split, as at training
            fit, valid = split_by_time(before, knobs.validation_share)
            jobs[("selector", month)] = (fit, valid)
    return _FoldPlan(months, cut_month, jobs)


def scores_of(
    fitted: Mapping[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]], key: Hashable
) -> NDArray[np.float64]:
    """The scores of a job that had leads to score."""
    scores = fitted[key][1]
    if scores is None:  # pragma: no cover - every job planned with leads to score has them
        raise ValueError(f"fit {key!r} scored no leads")
    return scores


def fold_results(
    plan: _FoldPlan, fitted: Mapping[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]], min_recall: float
) -> list[BacktestMonth]:
    results = []
    previous: tuple[pd.DataFrame, NDArray[np.float64]] | None = None
    if plan.cut_month is not None:
        previous = (_leads_scored(plan, ("fold", plan.cut_month)), scores_of(fitted, ("fold", plan.cut_month)))
    for month in plan.months:
        if previous is None:
            valid = _leads_scored(plan, ("selector", month))
            cut = choose_threshold(valid[LABEL].to_numpy(), scores_of(fitted, ("selector", month)), min_recall)
        else:
            leads, earlier = previous
            cut = choose_threshold(leads[LABEL].to_numpy(), earlier, min_recall)
        inside, scores = _leads_scored(plan, ("fold", month)), scores_of(fitted, ("fold", month))
        results.append(
            BacktestMonth(
                month=str(month),
                labels=inside[LABEL].to_numpy().astype(int),
                scores=scores,
                validation_cut=cut,
            )
        )
        previous = (inside, scores)
    return results


def _leads_scored(plan: _FoldPlan, key: Hashable) -> pd.DataFrame:
    """The leads a planned job scores."""
    leads = plan.jobs[key][1]
    if leads is None:  # pragma: no cover - the plan gives every fold and selector leads to score
        raise ValueError(f"fit {key!r} has no leads to score")
    return leads


def backtest(
    model_input: pd.DataFrame,
    knobs: BacktestKnobs,
    *,
    min_recall: float,
    min_level_count: int,
    params: dict[str, Any] | None = None,
    workers: int | None = None,
) -> list[BacktestMonth]:
    """Rolling-origin folds: each of the last ``knobs.months`` months scored by a model fitted on the leads before it.

    Each fold also carries the validation rule's cut as that rule would have set it at the time:
    the most precise cut with recall >= ``min_recall`` on the newest month before it, scored out of
    time by that month's own fold model (the eligible month before the first is fitted and scored
    for that alone). When the first month has no eligible month before it, its cut is chosen on the
    newest ``knobs.validation_share`` of its own training leads, scored by a model fitted on the older ones.
    With ``knobs.max_leads`` (0: no limit) a fold fits on at most the newest that many leads before its month.
    """
    params = {**LIGHTGBM_PARAMS, **(params or {})}
    plan = plan_backtest(model_input, knobs)
    if not plan.months:
        return []
    return fold_results(plan, fit_scorers(plan.jobs, params, min_level_count, workers), min_recall)


def backtest_recipes(
    plan: _FoldPlan, params: dict[str, Any], min_level_count: int, search: RecipeSearch | None
) -> tuple[Recipe, RecipeChoice | None, dict[Any, tuple[LeadScorer, NDArray[np.float64] | None]]]:
    """Backtest each candidate on the plan's folds and choose; the chosen one's fitted folds are returned
    for the policy (keyed as the plan keys them). One candidate or no backtest month: nothing to choose."""
    candidates = search.candidates if search is not None else (PLAIN,)
    if len(candidates) < 2 or search is None or not plan.months:
        return candidates[0], None, {}
    jobs: dict[Hashable, tuple[pd.DataFrame, pd.DataFrame | None]] = {
        (recipe.name, key): job for recipe in candidates for key, job in plan.jobs.items()
    }
    recipes: dict[Hashable, Recipe] = {(recipe.name, key): recipe for recipe in candidates for key in plan.jobs}
    fitted = fit_scorers(jobs, params, min_level_count, recipes=recipes)
    months = tuple(
        RecipeMonth(
            recipe.name,
            str(month),
            _auc(plan.jobs[("fold", month)][1], scores_of(fitted, (recipe.name, ("fold", month)))),
        )
        for recipe in candidates
        for month in plan.months
    )
    choice = choose_recipe(candidates, months, search.tolerance)
    tried = {key: fitted[(choice.chosen.name, key)] for key in plan.jobs}
    return choice.chosen, choice, tried


def _auc(leads: pd.DataFrame | None, scores: NDArray[np.float64]) -> float:
    if leads is None:  # pragma: no cover - every fold has leads to score
        raise ValueError("a fold without leads")
    return float(classification_metrics(leads[LABEL].to_numpy(), scores, 0.5)["auc"])
