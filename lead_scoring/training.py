"""Training, pure: time-based split, fitting, threshold choice, metrics and the promotion decision.

Nothing here touches MLflow or the staging database; ``training_pipeline`` wires it to them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import f1_score, log_loss, precision_recall_curve, precision_score, recall_score, roc_auc_score

from lead_scoring.errors import InsufficientDataError
from lead_scoring.features import FEATURES, LeadFeatures
from lead_scoring.model import LeadScorer
from lead_scoring.policy import BacktestMonth, DecisionPolicy, PolicyChoice, PolicyKind, choose_policy, rank_cut
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID

# Chosen on the real leads (Jul-Oct -> Nov and Jul-Nov -> Dec out of time; see the README, "`train`: the
# model, and when it may serve"):
# shallow trees, strong regularisation and smoothing of the many sparse categorical levels. Depth
# is capped because TreeSHAP (the reasons) costs leaves x depth^2 per tree: 300 trees of depth 5
# explain a lead 2.2x faster than 200 unbounded trees of 31 leaves (mean depth 11), with the same
# out-of-time AUC (0.782 vs 0.784) and more recall to spare in December (0.784 vs 0.762).
LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 5,
    "min_child_samples": 40,
    "colsample_bytree": 0.7,
    "reg_lambda": 5.0,
    "cat_smooth": 30,
    "cat_l2": 10,
    "min_data_per_group": 30,
    "random_state": 42,
    "n_jobs": 2,
    "verbose": -1,
}


@dataclass(frozen=True)
class Targets:
    auc: float
    precision: float
    recall: float


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


def check_sufficiency(model_input: pd.DataFrame, min_leads: int, min_conversions: int) -> None:
    """Refuse to train on too little evidence, before anything is logged or registered."""
    if LABEL not in model_input.columns:
        raise InsufficientDataError(
            "model_input has no app_complete_flag column: it holds leads to score, not to learn"
        )
    leads, conversions = len(model_input), int(model_input[LABEL].sum())
    if leads < min_leads:
        raise InsufficientDataError(f"only {leads} lead(s) to train on; at least {min_leads} are needed")
    if conversions < min_conversions or leads - conversions < min_conversions:
        raise InsufficientDataError(
            f"{conversions} converted and {leads - conversions} unconverted lead(s); "
            f"at least {min_conversions} of each are needed"
        )


def split_by_time(model_input: pd.DataFrame, validation_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The oldest leads to fit on and the newest ``validation_share`` to validate on (never random)."""
    if not 0 < validation_share < 1:
        raise ValueError(f"validation share must be between 0 and 1, not {validation_share}")
    ordered = model_input.sort_values(CREATED_DATE, kind="stable")
    boundary = ordered[CREATED_DATE].iloc[int(len(ordered) * (1 - validation_share))]
    fit, valid = ordered[ordered[CREATED_DATE] < boundary], ordered[ordered[CREATED_DATE] >= boundary]
    for part, name in ((fit, "training"), (valid, "validation")):
        if part[LABEL].nunique() < 2:
            raise InsufficientDataError(f"the {name} leads hold one class only; need converted and unconverted leads")
    return fit, valid


def fit_scorer(model_input: pd.DataFrame, params: dict[str, Any], min_level_count: int) -> LeadScorer:
    """Features and booster fitted on ``model_input``; no decision policy yet (flags at 0.5)."""
    from lightgbm import LGBMClassifier

    features = LeadFeatures(min_count=min_level_count)
    frame = features.fit_transform(model_input)
    booster = LGBMClassifier(**params).fit(frame, model_input[LABEL].astype(int))
    return LeadScorer(features=features, booster=booster)


def choose_threshold(y_true: NDArray[Any], y_score: NDArray[Any], min_recall: float) -> float:
    """The cut with the highest precision among those whose recall is at least ``min_recall``."""
    precision, recall, thresholds = precision_recall_curve(y_true, y_score)
    eligible = recall[:-1] >= min(min_recall, 1.0)
    if not eligible.any():
        return float(thresholds.min())
    best = np.flatnonzero(eligible)[np.argmax(precision[:-1][eligible])]
    return float(thresholds[best])


def classification_metrics(y_true: NDArray[Any], y_score: NDArray[Any], threshold: float) -> dict[str, Any]:
    """Metrics from probabilities of the positive class, in sklearn's (y_true, y_score) order."""
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=float)
    predicted = (y_score >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "auc": float(roc_auc_score(y_true, y_score)) if both else float("nan"),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "log_loss": float(log_loss(y_true, np.clip(y_score, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positive_rate": float(predicted.mean()),
        "base_rate": float(y_true.mean()),
        "threshold": float(threshold),
        "leads": int(len(y_true)),
    }


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


def fit_scorers(
    jobs: Mapping[Hashable, tuple[pd.DataFrame, pd.DataFrame | None]],
    params: dict[str, Any],
    min_level_count: int,
    workers: int | None = None,
) -> dict[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]]:
    """Fit one scorer per job (leads to fit on, and optionally leads to score with it), in parallel.

    Every fit of a training run goes through here: the jobs run in threads (LightGBM releases the
    GIL), the largest first, each with an equal share of the cores. On two cores two one-thread fits
    side by side beat one two-thread fit after the other, and much more so when other processes
    want the cores too (LightGBM's threads wait for each other at every step of every tree). The
    trees do not depend on the thread count; each scorer keeps ``params``' own ``n_jobs`` for scoring.
    """
    import os

    from joblib import Parallel, delayed

    if not jobs:
        return {}
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(jobs)))
    threads = max(1, cores // workers)

    def run(leads: pd.DataFrame, to_score: pd.DataFrame | None) -> tuple[LeadScorer, NDArray[np.float64] | None]:
        scorer = fit_scorer(leads, {**params, "n_jobs": threads}, min_level_count)
        scores = scorer.predict_proba(to_score) if to_score is not None else None
        scorer.booster.set_params(n_jobs=params.get("n_jobs", LIGHTGBM_PARAMS["n_jobs"]))
        return scorer, scores

    order = sorted(jobs, key=lambda key: len(jobs[key][0]), reverse=True)  # longest first: the shortest finish together
    done = Parallel(n_jobs=workers, prefer="threads")(delayed(run)(*jobs[key]) for key in order)
    return dict(zip(order, done, strict=True))


@dataclass(frozen=True)
class _FoldPlan:
    """The fits a backtest needs: one per month, each on the leads before it."""

    months: list[pd.Period]  # the backtested months (pandas Periods), oldest first
    cut_month: object | None  # the eligible month before the first, scored only to set the first month's cut
    jobs: dict[
        Hashable, tuple[pd.DataFrame, pd.DataFrame | None]
    ]  # ("fold", month) | ("selector", month) -> (leads to fit on, leads to score)


def _plan_backtest(
    model_input: pd.DataFrame, count: int, validation_share: float, min_leads: int, min_conversions: int, max_leads: int
) -> _FoldPlan:
    eligible = backtest_month_starts(model_input, count + 1, min_leads, min_conversions)
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
            fit, valid = split_by_time(before, validation_share)
            jobs[("selector", month)] = (fit, valid)
    return _FoldPlan(months, cut_month, jobs)


def _scored(
    fitted: Mapping[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]], key: Hashable
) -> NDArray[np.float64]:
    """The scores of a job that had leads to score."""
    scores = fitted[key][1]
    if scores is None:  # pragma: no cover - every job planned with leads to score has them
        raise ValueError(f"fit {key!r} scored no leads")
    return scores


def _fold_results(
    plan: _FoldPlan, fitted: Mapping[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]], min_recall: float
) -> list[BacktestMonth]:
    results = []
    previous: tuple[pd.DataFrame, NDArray[np.float64]] | None = None
    if plan.cut_month is not None:
        previous = (_leads_scored(plan, ("fold", plan.cut_month)), _scored(fitted, ("fold", plan.cut_month)))
    for month in plan.months:
        if previous is None:
            valid = _leads_scored(plan, ("selector", month))
            cut = choose_threshold(valid[LABEL].to_numpy(), _scored(fitted, ("selector", month)), min_recall)
        else:
            leads, earlier = previous
            cut = choose_threshold(leads[LABEL].to_numpy(), earlier, min_recall)
        inside, scores = _leads_scored(plan, ("fold", month)), _scored(fitted, ("fold", month))
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
    *,
    count: int,
    validation_share: float,
    min_recall: float,
    min_level_count: int,
    min_leads: int,
    min_conversions: int,
    params: dict[str, Any] | None = None,
    workers: int | None = None,
    max_leads: int = 0,
) -> list[BacktestMonth]:
    """Rolling-origin folds: each of the last ``count`` months scored by a model fitted on the leads before it.

    Each fold also carries the validation rule's cut as that rule would have set it at the time:
    the most precise cut with recall >= ``min_recall`` on the newest month before it, scored out of
    time by that month's own fold model (the eligible month before the first is fitted and scored
    for that alone). When the first month has no eligible month before it, its cut is chosen on the
    newest ``validation_share`` of its own training leads, scored by a model fitted on the older ones.
    With ``max_leads`` (0: no limit) a fold fits on at most the newest that many leads before its month.
    """
    params = {**LIGHTGBM_PARAMS, **(params or {})}
    plan = _plan_backtest(model_input, count, validation_share, min_leads, min_conversions, max_leads)
    if not plan.months:
        return []
    return _fold_results(plan, fit_scorers(plan.jobs, params, min_level_count, workers), min_recall)


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
    *,
    validation_share: float,
    target_recall: float,
    recall_margin: float,
    min_level_count: int,
    target_precision: float,
    backtest_months: int,
    min_fold_leads: int,
    min_fold_conversions: int,
    max_fold_leads: int,  # 0: every lead before a month
    params: dict[str, Any] | None = None,
) -> TrainingResult:
    """Backtest month by month, choose the decision policy on the backtests, then refit on every lead.

    Every knob is given (``train_with_settings`` reads them from the settings): their defaults live
    in one place, :class:`~lead_scoring.settings.Settings`.

    The validation slice (newest ``validation_share``, scored by a model fitted on the older leads)
    stays the evidence the gate and the champion comparison read; the backtest months decide how
    scores become flags.
    """
    params = {**LIGHTGBM_PARAMS, **(params or {})}
    fit, valid = split_by_time(model_input, validation_share)
    min_recall = target_recall + recall_margin
    plan = _plan_backtest(
        model_input, backtest_months, validation_share, min_fold_leads, min_fold_conversions, max_fold_leads
    )
    # every fit of the run at once, spread over the cores: the final model on every lead, the
    # validation rule's selector on all but the newest leads, and the backtest folds
    fitted = fit_scorers({"final": (model_input, None), "selector": (fit, valid), **plan.jobs}, params, min_level_count)
    valid_scores = _scored(fitted, "selector")
    validation_cut = choose_threshold(valid[LABEL].to_numpy(), valid_scores, min_recall)
    folds = _fold_results(plan, fitted, min_recall) if plan.months else []
    choice = choose_policy(folds, target_precision, target_recall) if folds else None
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
    return TrainingResult(
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
    )


def decide_promotion(
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    targets: Targets,
    tolerance: float,
    worst_month: dict[str, Any] | None = None,
) -> PromotionDecision:
    """Champion only if every target is met on the validation leads and in the worst backtest month,
    and it is not worse than the champion on the same leads.

    ``worst_month``: the lowest AUC, precision and recall over the backtest months (the chosen
    policy's), with ``months`` their number; None when the data is too young to backtest a month.
    """
    reasons, ok = [], True
    checks = [("", candidate)] + ([("worst backtest month ", worst_month)] if worst_month else [])
    for prefix, figures in checks:
        for name, target in (("auc", targets.auc), ("precision", targets.precision), ("recall", targets.recall)):
            value = figures.get(name, float("nan"))
            if value > target:
                reasons.append(f"{prefix}{name} {value:.3f} > target {target}")
            else:
                ok = False
                reasons.append(f"{prefix}{name} {value:.3f} misses target {target}")
    if worst_month is None:
        reasons.append("no backtest month: too little history before the newest month to test one")
    else:
        reasons.append(f"backtested on {int(worst_month.get('months', 0))} month(s)")
    if champion is None:
        reasons.append("no current champion")
    elif candidate["auc"] + tolerance < champion["auc"]:
        ok = False
        reasons.append(f"auc {candidate['auc']:.3f} worse than champion's {champion['auc']:.3f} on the same leads")
    else:
        reasons.append(f"auc {candidate['auc']:.3f} vs champion's {champion['auc']:.3f} on the same leads")
    return PromotionDecision(promote=ok, reasons=reasons)


def required_columns() -> list[str]:
    return [LEAD_ID, CREATED_DATE, LABEL, *FEATURES]
