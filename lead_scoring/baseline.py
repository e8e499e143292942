"""The reference approach of the case study, as a yardstick: one-hot mapped features, LightGBM defaults, cut 0.5.

``out_of_time_report`` puts the champion and the reference side by side on labelled leads that come
after the ones they learned from: the evidence the README's table is made of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lead_scoring.errors import InsufficientDataError
from lead_scoring.schema import CATEGORICAL_COLUMNS, CITY_TIER, COUNT_COLUMNS, CREATED_DATE, INTERACTION_GROUPS, LABEL
from lead_scoring.settings import Settings
from lead_scoring.training import classification_metrics

REFERENCE_FEATURES = [CITY_TIER, *CATEGORICAL_COLUMNS, *COUNT_COLUMNS, *INTERACTION_GROUPS]


def reference_scores(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Scores of the reference approach trained on ``train``, for ``test``."""
    from lightgbm import LGBMClassifier

    both = pd.get_dummies(
        pd.concat([train[REFERENCE_FEATURES], test[REFERENCE_FEATURES]]), columns=list(CATEGORICAL_COLUMNS), dtype=float
    )
    model = LGBMClassifier(verbose=-1, random_state=42).fit(both.iloc[: len(train)], train[LABEL])
    return model.predict_proba(both.iloc[len(train) :])[:, 1]


@dataclass
class OutOfTimeReport:
    since: str
    until: str
    leads: int
    champion_version: str
    trained_until: str
    champion: dict
    reference: dict
    targets: dict

    def lines(self) -> list[str]:
        rows = [
            f"out-of-time evaluation on {self.leads} labelled leads created {self.since} .. {self.until}",
            f"champion v{self.champion_version} trained on leads up to {self.trained_until}; "
            f"reference trained on every lead before {self.since}",
            "",
            f"{'':<34}{'AUC':>8}{'precision':>11}{'recall':>8}{'F1':>8}{'cut':>8}",
        ]
        for name, m in (("lead_scoring champion", self.champion), ("reference (one-hot + defaults)", self.reference)):
            rows.append(
                f"{name:<34}{m['auc']:>8.3f}{m['precision']:>11.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['threshold']:>8.3f}"
            )
        t = self.targets
        rows.append(
            f"{'targets':<34}{'> ' + str(t['auc']):>8}{'> ' + str(t['precision']):>11}{'> ' + str(t['recall']):>8}"
        )
        met = all(self.champion[k] > v for k, v in t.items())
        rows.append("")
        rows.append(
            f"champion meets all three targets: {'yes' if met else 'NO'}; "
            f"AUC vs reference: {self.champion['auc'] - self.reference['auc']:+.3f}"
        )
        return rows


def out_of_time_report(settings: Settings, since: str, until: str | None = None) -> OutOfTimeReport:
    """Score labelled leads created in [since, until] with the champion; the reference learns from the rest."""
    from lead_scoring import registry
    from lead_scoring.training_pipeline import load_training_input

    frame = load_training_input(settings)
    start = pd.Timestamp(since).normalize()
    end = (
        pd.Timestamp(until).normalize() + pd.Timedelta(days=1)
        if until
        else frame[CREATED_DATE].max() + pd.Timedelta(seconds=1)
    )
    test = frame[(frame[CREATED_DATE] >= start) & (frame[CREATED_DATE] < end)]
    train = frame[frame[CREATED_DATE] < start]
    if test.empty or test[LABEL].nunique() < 2 or train.empty:
        raise InsufficientDataError(f"need labelled leads of both classes from {since} on, and leads before it")
    champion = registry.load_scoring_model(settings)
    scores = champion.scorer.predict_proba(test)
    return OutOfTimeReport(
        since=str(start.date()),
        until=str((end - pd.Timedelta(seconds=1)).date()),
        leads=len(test),
        champion_version=champion.version,
        trained_until=champion.tags.get("trained_until", "?"),
        champion=classification_metrics(test[LABEL], scores, champion.scorer.policy_cut(scores)),
        reference=classification_metrics(test[LABEL], reference_scores(train, test), 0.5),
        targets={"auc": settings.target_auc, "precision": settings.target_precision, "recall": settings.target_recall},
    )


@dataclass(frozen=True)
class MonthFigures:
    month: str
    leads: int
    base_rate: float
    auc: float
    policy: str
    old_rule: dict  # the validation rule's cut on the final model
    daily: dict  # the chosen policy, as daily scoring runs would have flagged the month


@dataclass(frozen=True)
class MonthlyReport:
    months: tuple[MonthFigures, ...]
    targets: dict

    def lines(self) -> list[str]:
        t = self.targets
        rows = [
            "each month scored by a model trained only on the leads before it "
            "(the chosen policy scored day by day, as the daily DAG would)",
            "",
            f"{'month':<9}{'leads':>7}{'base':>7}{'AUC':>7}   {'old rule P / R / flagged':<26}"
            f"{'policy':<22}{'P / R / flagged':<20}",
        ]
        for m in self.months:
            o, d = m.old_rule, m.daily
            rows.append(
                f"{m.month:<9}{m.leads:>7}{m.base_rate:>7.3f}{m.auc:>7.3f}   "
                f"{o['precision']:.3f} / {o['recall']:.3f} / {o['positive_rate']:>4.0%}      "
                f"{m.policy:<22}{d['precision']:.3f} / {d['recall']:.3f} / {d['positive_rate']:>4.0%}"
            )
        missed = [
            f"{m.month} {name}" for m in self.months for name in ("precision", "recall") if not m.daily[name] > t[name]
        ] + [f"{m.month} auc" for m in self.months if not m.auc > t["auc"]]
        rows.append("")
        rows.append(
            f"targets: AUC > {t['auc']}, precision > {t['precision']}, recall > {t['recall']}; "
            + ("the chosen policy meets them in every month" if not missed else "missed: " + ", ".join(missed))
        )
        return rows


def monthly_report(settings: Settings, months: list[str]) -> MonthlyReport:
    """For each month: train on every labelled lead before it (as `train` does, without MLflow), then
    score the month with the old validation rule and with the backtested policy, day by day."""
    from lead_scoring.errors import InputDataError
    from lead_scoring.policy import daily_labels
    from lead_scoring.training_pipeline import load_training_input, train_with_settings

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
        y, scores = inside[LABEL].to_numpy(), result.scorer.predict_proba(inside)
        labels = daily_labels(
            result.scorer.policy, scores, inside[CREATED_DATE].dt.normalize().to_numpy(), settings.policy_pool
        )
        old_rule = classification_metrics(y, scores, result.validation_cut)
        daily = classification_metrics(y, labels.astype(float), 0.5)  # the flags as set; AUC comes from the scores
        figures.append(
            MonthFigures(
                month=str(month),
                leads=len(inside),
                base_rate=float(y.mean()),
                auc=old_rule["auc"],
                policy=f"{result.scorer.policy.kind} "
                + (
                    f"top {result.scorer.policy.share:.1%}"
                    if result.scorer.policy.kind == "rank"
                    else f"{result.scorer.policy.cut:.3f}"
                ),
                old_rule=old_rule,
                daily=daily,
            )
        )
    targets = {"auc": settings.target_auc, "precision": settings.target_precision, "recall": settings.target_recall}
    return MonthlyReport(tuple(figures), targets)
