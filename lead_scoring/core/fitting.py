"""Fitting, pure: the LightGBM parameters, the time-based split, one fit or many in parallel, the
threshold choice and the classification metrics. Training and the backtest both build on it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import f1_score, log_loss, precision_recall_curve, precision_score, recall_score, roc_auc_score

from lead_scoring.core.model import LeadScorer
from lead_scoring.core.recipes import PLAIN, Recipe
from lead_scoring.errors import InsufficientDataError
from lead_scoring.schema import CREATED_DATE, LABEL

# Chosen on the real leads (Jul-Oct -> Nov and Jul-Nov -> Dec out of time; see docs/model.md, "`train`:
# the model, and when it may serve"):
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


def fit_scorer(
    model_input: pd.DataFrame, params: dict[str, Any], min_level_count: int, recipe: Recipe = PLAIN
) -> LeadScorer:
    """Features and booster fitted on ``model_input`` by ``recipe``; no decision policy yet (flags at 0.5)."""
    from lightgbm import LGBMClassifier

    features = recipe.features(min_level_count)
    frame = features.fit_transform(model_input)
    weights = recipe.weights(model_input)
    booster = LGBMClassifier(**params).fit(frame, model_input[LABEL].astype(int), sample_weight=weights)
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


def fit_scorers(
    jobs: Mapping[Hashable, tuple[pd.DataFrame, pd.DataFrame | None]],
    params: dict[str, Any],
    min_level_count: int,
    workers: int | None = None,
    recipes: Mapping[Hashable, Recipe] | None = None,
) -> dict[Hashable, tuple[LeadScorer, NDArray[np.float64] | None]]:
    """Fit one scorer per job (leads to fit on, and optionally leads to score with it), in parallel.

    ``recipes``: the recipe of each job (a job not listed: the plain recipe).

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

    def run(
        leads: pd.DataFrame, to_score: pd.DataFrame | None, recipe: Recipe
    ) -> tuple[LeadScorer, NDArray[np.float64] | None]:
        scorer = fit_scorer(leads, {**params, "n_jobs": threads}, min_level_count, recipe)
        scores = scorer.predict_proba(to_score) if to_score is not None else None
        scorer.booster.set_params(n_jobs=params.get("n_jobs", LIGHTGBM_PARAMS["n_jobs"]))
        return scorer, scores

    order = sorted(jobs, key=lambda key: len(jobs[key][0]), reverse=True)  # longest first: the shortest finish together
    done = Parallel(n_jobs=workers, prefer="threads")(
        delayed(run)(*jobs[key], (recipes or {}).get(key, PLAIN)) for key in order
    )
    return dict(zip(order, done, strict=True))
