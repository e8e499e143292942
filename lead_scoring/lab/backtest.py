"""`lead-scoring backtest`: each month scored by a model fitted on the leads before it, beside the reference."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from lead_scoring.core.fitting import classification_metrics
from lead_scoring.errors import InsufficientDataError
from lead_scoring.schema import CREATED_DATE, LABEL
from lead_scoring.settings import Settings


@dataclass(frozen=True)
class MonthFigures:
    month: str
    leads: int
    base_rate: float
    auc: float
    policy: str
    old_rule: dict[str, float]  # the validation rule's cut on the final model
    daily: dict[str, float]  # the chosen policy, as daily scoring runs would have flagged the month


@dataclass(frozen=True)
class MonthlyReport:
    months: tuple[MonthFigures, ...]
    targets: dict[str, Any]


def monthly_report(settings: Settings, months: list[str]) -> MonthlyReport:
    """For each month: train on every labelled lead before it (as `train` does, without MLflow), then
    score the month with the old validation rule and with the backtested policy, day by day."""
    from lead_scoring.core.policy import daily_labels
    from lead_scoring.errors import InputDataError
    from lead_scoring.pipelines.training import load_training_input, train_with_settings

    frame = load_training_input(settings)
    created = frame[CREATED_DATE].dt.to_period("M")
    figures = []
    for name in months:
        try:
            month = pd.Period(name, freq="M")
        except ValueError:
            raise InputDataError(f"--months: {name!r} is not a month (expected YYYY-MM)") from None
        before, inside = frame[created < month].reset_index(drop=True), frame[created == month]
        if inside.empty or inside[LABEL].nunique() < 2 or before.empty:
            raise InsufficientDataError(
                f"{name}: need labelled leads of both classes in the month, and leads before it"
            )
        result = train_with_settings(settings, before)
        policy = result.policy
        y, scores = inside[LABEL].to_numpy(), result.scorer.predict_proba(inside)
        labels = daily_labels(policy, scores, inside[CREATED_DATE].dt.normalize().to_numpy(), settings.policy_pool)
        old_rule = classification_metrics(y, scores, result.validation_cut)
        daily = classification_metrics(y, labels.astype(float), 0.5)  # the flags as set; AUC comes from the scores
        figures.append(
            MonthFigures(
                month=str(month),
                leads=len(inside),
                base_rate=float(y.mean()),
                auc=old_rule["auc"],
                policy=f"{policy.kind} "
                + (f"top {policy.share:.1%}" if policy.kind == "rank" else f"{policy.cut:.3f}"),
                old_rule=old_rule,
                daily=daily,
            )
        )
    targets = asdict(settings.targets)
    return MonthlyReport(tuple(figures), targets)
