"""Training, pure: the final fit with its backtest and policy, the run's fingerprint, and the promotion
decision. Fitting and the backtest folds are in :mod:`~lead_scoring.core.fitting` and
:mod:`~lead_scoring.core.backtest`.

Nothing here touches MLflow or the staging database; :mod:`lead_scoring.pipelines.training` wires it to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core.backtest import backtest_recipes, fold_results, plan_backtest, scores_of
from lead_scoring.core.features import FEATURES
from lead_scoring.core.fitting import (
    LIGHTGBM_PARAMS,
    choose_threshold,
    classification_metrics,
    fit_scorers,
    split_by_time,
)
from lead_scoring.core.knobs import TrainingKnobs
from lead_scoring.core.model import LeadScorer
from lead_scoring.core.policy import DecisionPolicy, PolicyChoice, PolicyKind, choose_policy, rank_cut
from lead_scoring.core.recipes import PLAIN, Recipe, RecipeChoice
from lead_scoring.core.targets import Targets
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID


@dataclass
class TrainingResult:
    """A refitted scorer plus the out-of-sample evidence it was selected on."""

    scorer: LeadScorer
    params: dict[str, Any]
    validation: pd.DataFrame  # lead_id, created_date, label, score (from the model fitted before the split)
    metrics: dict[str, Any]
    fingerprint: dict[str, Any]
    train_rows: int
    validation_start: pd.Timestamp
    trained_until: pd.Timestamp
    policy_choice: PolicyChoice | None = None  # None: too little history to backtest a month
    # the scores the policy's reference cut and share come from
    reference_scores: NDArray[Any] = field(default_factory=lambda: np.empty(0))
    validation_cut: float = float("nan")  # the validation rule's cut, whichever policy was chosen
    # the validation leads newer than the champion's training data (model input), with the scores and
    # flags of this recipe fitted to the champion's cut-off; None: no champion, or too few such leads
    comparison: pd.DataFrame | None = None
    recipe: Recipe = PLAIN  # how the scorer was fitted
    recipe_choice: RecipeChoice | None = None  # None: one candidate, or too little history to backtest

    @property
    def policy(self) -> DecisionPolicy:
        """The decision policy chosen at training (a trained scorer always has one)."""
        if self.scorer.policy is None:
            raise ValueError("a trained scorer has a decision policy")
        return self.scorer.policy


@dataclass
class PromotionDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)


def fingerprint(model_input: pd.DataFrame) -> dict[str, Any]:
    """Rows, date range and a content hash of the training input, to tell two datasets apart."""
    # hash each row, then sort the hashes: order-independent, and cheap at a million rows
    row_hashes = np.sort(pd.util.hash_pandas_object(model_input, index=False).to_numpy())
    digest = hashlib.sha256(row_hashes.tobytes()).hexdigest()
    return {
        "rows": len(model_input),
        "conversions": int(model_input[LABEL].sum()),
        "created_from": str(model_input[CREATED_DATE].min()),
        "created_to": str(model_input[CREATED_DATE].max()),
        "content_sha256": digest[:16],
    }


def training_run_name(fingerprint: dict[str, Any]) -> str:
    """An MLflow run name that says what the run is: ``train to 2021-11-30 · 16,421 leads``."""
    newest = str(fingerprint.get("created_to", ""))[:10] or "?"
    return f"train to {newest} · {int(fingerprint.get('rows', 0)):,} leads"


def final_policy(
    kind: PolicyKind, parameter: float, validation_cut: float, reference_scores: NDArray[Any]
) -> DecisionPolicy:
    """The chosen kind's policy for the final model, its reference cut and share on the final model's scale."""
    scores = np.asarray(reference_scores, dtype=float)
    if kind == "rank":
        return DecisionPolicy("rank", cut=rank_cut(scores, parameter), share=float(parameter))
    cut = validation_cut if kind == "validation" else float(parameter)
    return DecisionPolicy(kind, cut=float(cut), share=float((scores >= cut).mean()))


def train(
    model_input: pd.DataFrame,
    knobs: TrainingKnobs,
    *,
    params: dict[str, Any] | None = None,
    compare_cutoff: pd.Timestamp | None = None,
) -> TrainingResult:
    """Backtest month by month, choose the decision policy on the backtests, then refit on every lead.

    ``knobs`` is built once from the settings (``settings.training``), where each knob is declared.

    The validation slice (newest ``knobs.validation_share``, scored by a model fitted on the older leads)
    stays the evidence the gate reads; the backtest months decide how scores become flags.
    ``compare_cutoff``: the serving champion's training cut-off; the recipe is refitted on the leads
    up to it and scores the validation leads after it (at least ``knobs.min_comparison_leads`` of both
    classes), for the promotion's like-for-like comparison (``TrainingResult.comparison``).
    ``knobs.base_rate_days``: the policy follows the base rate of the leads of the last that many days
    (see :func:`recent_base_rate`); 0: the backtest months as they were.
    ``knobs.search``: the recipes to backtest and choose among (:func:`choose_recipe`, on the backtest months
    only, all before any lead this model will score); None or one candidate: the plain recipe.
    """
    params = {**LIGHTGBM_PARAMS, **(params or {})}
    fit, valid = split_by_time(model_input, knobs.validation_share)
    min_recall, min_level_count = knobs.min_recall, knobs.min_level_count
    plan = plan_backtest(model_input, knobs.backtest)
    # every fit of the run at once, spread over the cores: the final model on every lead, the
    # validation rule's selector on all but the newest leads, and the backtest folds
    jobs = {"final": (model_input, None), "selector": (fit, valid), **plan.jobs}
    later = valid.head(0)
    if compare_cutoff is not None:
        earlier, later = (
            model_input[model_input[CREATED_DATE] <= compare_cutoff],
            valid[valid[CREATED_DATE] > compare_cutoff],
        )
        if len(later) >= knobs.min_comparison_leads and later[LABEL].nunique() == 2 and earlier[LABEL].nunique() == 2:
            jobs["at_cutoff"] = (earlier, later)
    recipe, recipe_choice, tried = backtest_recipes(plan, params, min_level_count, knobs.search)
    # the chosen recipe's backtest folds are fitted already: only the fits on newer leads remain
    jobs = {key: job for key, job in jobs.items() if key not in tried}
    fitted = {**tried, **fit_scorers(jobs, params, min_level_count, recipes=dict.fromkeys(jobs, recipe))}
    valid_scores = scores_of(fitted, "selector")
    validation_cut = choose_threshold(valid[LABEL].to_numpy(), valid_scores, min_recall)
    folds = fold_results(plan, fitted, min_recall) if plan.months else []
    rate = (
        recent_base_rate(model_input, knobs.base_rate_days, knobs.min_comparison_leads)
        if knobs.base_rate_days
        else None
    )
    choice = choose_policy(folds, knobs.targets.precision, knobs.targets.recall, rate) if folds else None
    # The policy's reference distribution: out-of-time scores of the newest backtest month (its
    # model saw every lead but that month's). The final model's own scores of its newest leads
    # are in-sample and spread wider: on the real leads a cut taken there flagged 52% of the next
    # month where 57% was meant.
    reference_scores = folds[-1].scores if folds else valid_scores
    kind, parameter = (choice.chosen.kind, choice.chosen.parameter) if choice else ("validation", float("nan"))
    policy = final_policy(kind, parameter, validation_cut, reference_scores)
    # The refit on every lead up to the cut-off: the newest leads are the most like tomorrow's.
    scorer = replace(fitted["final"][0], policy=policy)
    metrics = classification_metrics(valid[LABEL].to_numpy(), valid_scores, policy.cut_for(valid_scores))
    validation = pd.DataFrame(
        {
            LEAD_ID: valid[LEAD_ID].to_numpy(),
            CREATED_DATE: valid[CREATED_DATE].to_numpy(),
            LABEL: valid[LABEL].to_numpy(),
            "score": valid_scores,
        }
    )
    comparison = None
    if "at_cutoff" in fitted:
        at_cutoff = scores_of(fitted, "at_cutoff")
        comparison = later.assign(candidate_score=at_cutoff, candidate_flag=policy.labels(at_cutoff))
    return TrainingResult(
        comparison=comparison,
        scorer=scorer,
        params=params,
        validation=validation,
        metrics=metrics,
        fingerprint=fingerprint(model_input),
        train_rows=len(model_input),
        validation_start=valid[CREATED_DATE].min(),
        trained_until=model_input[CREATED_DATE].max(),
        policy_choice=choice,
        reference_scores=reference_scores,
        validation_cut=validation_cut,
        recipe=recipe,
        recipe_choice=recipe_choice,
    )


@dataclass(frozen=True)
class Comparison:
    """The candidate and the serving champion on the same leads, at equal information.

    The leads are the candidate's validation leads created after the champion's training cut-off
    (neither model saw them). The candidate's figures are its recipe refitted on its leads up to
    that same cut-off, so neither side has seen newer leads than the other; the champion's are the
    champion as it serves. Each side's flags follow its own decision policy.
    """

    champion_version: str
    cutoff: str  # the champion's trained_until: both fitted on leads up to it
    leads: int
    first: str  # the compared leads' creation dates
    last: str
    candidate: dict[str, float]  # auc, precision, recall
    champion: dict[str, float]

    def figures(self) -> str:
        """Both sides, one line a person can check against the saved leads."""

        def side(f: dict[str, float]) -> str:
            return f"auc {f['auc']:.3f} precision {f['precision']:.3f} recall {f['recall']:.3f}"

        return (
            f"on the same {self.leads} leads created {self.first[:10]} .. {self.last[:10]}, both fitted to leads "
            f"up to {self.cutoff[:10]}: this recipe {side(self.candidate)}; "
            f"champion v{self.champion_version} {side(self.champion)}"
        )


def decide_promotion(
    candidate: dict[str, Any],
    comparison: Comparison | None,
    targets: Targets,
    tolerance: float,
    worst_month: dict[str, Any] | None = None,
    *,
    champion: str | None = None,
    no_comparison: str = "",
) -> PromotionDecision:
    """Champion when it is no worse than the serving champion on the same leads at equal information;
    with no champion (or nothing to compare on), when every target is met on the validation leads
    and in the worst backtest month.

    A candidate no worse than the champion replaces it even when it misses a target (the champion
    is then no better): the reasons say so loudly, but the staler model does not keep serving.
    ``champion``: the serving version (None: there is none); ``comparison``: both on the same
    leads, None when they could not be compared (``no_comparison`` says why).
    ``worst_month``: the lowest AUC, precision and recall over the backtest months (the chosen
    policy's), with ``months`` their number; None when the data is too young to backtest a month.
    """
    reasons, targets_met = [], True
    checks = [("", candidate)] + ([("worst backtest month ", worst_month)] if worst_month else [])
    missed = []
    for prefix, figures in checks:
        for name, target in (("auc", targets.auc), ("precision", targets.precision), ("recall", targets.recall)):
            value = figures.get(name, float("nan"))
            if value > target:
                reasons.append(f"{prefix}{name} {value:.3f} > target {target}")
            else:
                targets_met = False
                missed.append(f"{prefix}{name} {value:.3f}")
                reasons.append(f"{prefix}{name} {value:.3f} misses target {target}")
    if worst_month is None:
        reasons.append("no backtest month: too little history before the newest month to test one")
    else:
        reasons.append(f"backtested on {int(worst_month.get('months', 0))} month(s)")
    if comparison is None:
        if champion is None:
            reasons.append("no current champion")
        else:
            reasons.append(f"not compared with champion v{champion} ({no_comparison}): the targets decide")
        return PromotionDecision(promote=targets_met, reasons=reasons)
    ours, theirs = comparison.candidate["auc"], comparison.champion["auc"]
    if ours + tolerance < theirs:
        reasons.append(f"auc {ours:.3f} worse than champion v{comparison.champion_version}'s {theirs:.3f}")
        reasons.append(comparison.figures())
        return PromotionDecision(promote=False, reasons=reasons)
    reasons.append(f"auc {ours:.3f} no worse than champion v{comparison.champion_version}'s {theirs:.3f}")
    reasons.append(comparison.figures())
    if not targets_met:
        reasons.append(
            f"PROMOTED ALTHOUGH IT MISSES TARGETS ({', '.join(missed)}): it is no worse than champion "
            f"v{comparison.champion_version} on the same leads, and has seen newer leads"
        )
    return PromotionDecision(promote=True, reasons=reasons)


def recent_base_rate(model_input: pd.DataFrame, days: int, min_leads: int) -> float | None:
    """The conversion rate of the labelled leads created in the last ``days`` days of ``model_input``
    (the latest weeks the loop has outcomes for); None with fewer than ``min_leads`` of them."""
    created = model_input[CREATED_DATE]
    recent = model_input[created > created.max() - pd.Timedelta(days=days)]
    if len(recent) < min_leads:
        return None
    return float(recent[LABEL].mean())


def required_columns() -> list[str]:
    return [LEAD_ID, CREATED_DATE, LABEL, *FEATURES]
