"""The closed loop, pure: outcome validation, the merge rule for late labels, realized performance per week.

Frames in, frozen results out; nothing here touches MLflow, the staging database or Airflow
(``feedback_pipeline`` wires it to them).

- **Outcomes** come from the CRM as ``lead_id``, ``app_complete_flag`` (0/1) and optionally
  ``outcome_at``; their validation, date screen and merge rule ("the newer label wins") live in
  :mod:`lead_scoring.core.outcomes` and are re-exported here.
- **Realized performance** of a model version, per ISO week (Monday) of the leads' ``created_date``:
  AUC from the scores, precision, recall and F1 from the version's own ``predicted_label``, all
  against the outcomes, computed once a week has ``min_labelled`` labelled leads; never on leads
  up to the version's training cut-off (``out_of_sample``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from lead_scoring.core.outcomes import OutcomeMerge as OutcomeMerge
from lead_scoring.core.outcomes import ScreenedOutcomes as ScreenedOutcomes
from lead_scoring.core.outcomes import ValidatedOutcomes as ValidatedOutcomes
from lead_scoring.core.outcomes import merge_outcomes as merge_outcomes
from lead_scoring.core.outcomes import screen_outcomes as screen_outcomes
from lead_scoring.core.outcomes import validate_outcomes as validate_outcomes
from lead_scoring.core.targets import Targets
from lead_scoring.schema import CREATED_DATE, FIRST_SCORED_AT, LABEL, LEAD_ID, OUTCOME_AT, RETRAIN_REASON
from lead_scoring.schema import OUTCOME_COLUMNS as OUTCOME_COLUMNS

log = logging.getLogger(__name__)

WeekStatus = Literal["ok", "below_target", "too_few_labels"]
Verdict = Literal["ok", "below_target", "no_judged_week"]
PERFORMANCE_COLUMNS: tuple[str, ...] = (
    "model_version",
    "week_start",
    "leads_scored",
    "leads_labelled",
    "auc",
    "precision",
    "recall",
    "f1",
    "flagged_share",
    "status",
)


# -- outcomes in: validated and screened in lead_scoring.core.outcomes, re-exported here -------------------

# -- realized performance ---------------------------------------------------------------------------


def week_start(created: pd.Series) -> pd.Series:
    """Monday 00:00 of the ISO week of each date-time."""
    days = pd.to_datetime(created).dt.normalize()
    return days - pd.to_timedelta(days.dt.weekday, unit="D")


@dataclass(frozen=True)
class Figures:
    """Realized figures of a set of labelled leads; ``None`` where a figure is undefined."""

    leads_labelled: int
    auc: float | None  # needs both classes
    precision: float | None  # needs at least one flagged lead
    recall: float | None  # needs at least one completed application
    f1: float | None
    flagged_share: float | None

    def misses(self, targets: Targets) -> tuple[str, ...]:
        """The figures at or below their targets, in words."""
        return tuple(
            f"{name} {value:.3f} <= {target}"
            for name, value, target in (
                ("auc", self.auc, targets.auc),
                ("precision", self.precision, targets.precision),
                ("recall", self.recall, targets.recall),
            )
            if value is not None and not value > target
        )


def realized_figures(labels: NDArray[Any], scores: NDArray[Any], predicted: NDArray[Any]) -> Figures:
    """AUC from the scores (positive class, sklearn's (y_true, y_score) order); the rest from ``predicted``."""
    y = np.asarray(labels).astype(int)
    flagged = np.asarray(predicted).astype(int)
    if len(y) == 0:
        return Figures(0, None, None, None, None, None)
    both = len(np.unique(y)) == 2
    precision = float(precision_score(y, flagged, zero_division=0)) if flagged.any() else None
    recall = float(recall_score(y, flagged, zero_division=0)) if y.any() else None
    return Figures(
        leads_labelled=len(y),
        auc=float(roc_auc_score(y, np.asarray(scores, dtype=float))) if both else None,
        precision=precision,
        recall=recall,
        f1=float(f1_score(y, flagged, zero_division=0)) if precision is not None and recall is not None else None,
        flagged_share=float(flagged.mean()),
    )


@dataclass(frozen=True)
class WeekPerformance:
    """One row of `model_performance`."""

    model_version: str
    week_start: pd.Timestamp
    leads_scored: int
    figures: Figures  # over the week's labelled leads (leads_labelled 0.. any)
    status: WeekStatus
    misses: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        judged = self.status != "too_few_labels"
        figures = {
            name: (getattr(self.figures, name) if judged else None)
            for name in ("auc", "precision", "recall", "f1", "flagged_share")
        }
        return {
            "model_version": self.model_version,
            "week_start": self.week_start,
            "leads_scored": self.leads_scored,
            "leads_labelled": self.figures.leads_labelled,
            **{k: (np.nan if v is None else v) for k, v in figures.items()},
            "status": self.status,
        }


def out_of_sample(scored: pd.DataFrame, trained_until: Mapping[str, pd.Timestamp]) -> pd.DataFrame:
    """The rows of leads each version did not train on: created after its training cut-off
    (``trained_until``, by version; a version without one keeps every row). A version graded on
    leads it learned reports in-sample figures as realized ones."""
    if scored.empty or not trained_until:
        return scored
    versions = scored["model_version"].astype(str)
    cutoff = pd.to_datetime(versions.map({str(k): v for k, v in trained_until.items()}))
    learned = cutoff.notna() & (pd.to_datetime(scored[CREATED_DATE]) <= cutoff)
    return scored[~learned.to_numpy()].reset_index(drop=True)


def weekly_performance(scored: pd.DataFrame, min_labelled: int, targets: Targets) -> tuple[WeekPerformance, ...]:
    """Per model version and ISO week of ``created_date``: leads scored, leads labelled, and the figures.

    ``scored``: one row per (lead, version that scored it) with ``model_version``, ``created_date``,
    ``score``, ``predicted_label`` and ``app_complete_flag`` (missing where no outcome came back).
    A week with fewer than ``min_labelled`` labelled leads is ``too_few_labels``; one where AUC,
    precision or recall is not above its target is ``below_target``.
    """
    if scored.empty:
        return ()
    frame = scored.assign(
        week_start=week_start(scored[CREATED_DATE]), model_version=scored["model_version"].astype(str)
    )
    weeks = []
    for (version, week), group in frame.groupby(["model_version", "week_start"], sort=True):
        labelled = group[group[LABEL].notna()]
        figures = realized_figures(
            labelled[LABEL].to_numpy(), labelled["score"].to_numpy(), labelled["predicted_label"].to_numpy()
        )
        misses: tuple[str, ...] = ()
        if figures.leads_labelled < min_labelled:
            status: WeekStatus = "too_few_labels"
        else:
            misses = figures.misses(targets)
            status = "below_target" if misses else "ok"
        weeks.append(WeekPerformance(str(version), pd.Timestamp(week), len(group), figures, status, misses))
    return tuple(weeks)


def performance_table(weeks: Sequence[WeekPerformance]) -> pd.DataFrame:
    """The `model_performance` rows."""
    frame = pd.DataFrame([week.row() for week in weeks], columns=list(PERFORMANCE_COLUMNS))
    for col in ("auc", "precision", "recall", "f1", "flagged_share"):
        frame[col] = frame[col].astype("float64")
    for col in ("leads_scored", "leads_labelled"):
        frame[col] = frame[col].astype("int64")
    # one unit however the weeks were made (pandas 3 keeps a Timestamp's own unit)
    frame["week_start"] = pd.to_datetime(frame["week_start"]).astype("datetime64[ns]")
    return frame


@dataclass(frozen=True)
class TargetsVerdict:
    """How the latest complete week with enough labels did."""

    status: Verdict
    week_start: pd.Timestamp | None = None
    misses: tuple[str, ...] = ()  # "v3: precision 0.612 <= 0.65", one per missed figure

    def describe(self) -> str:
        if self.status == "no_judged_week":
            return "no complete week has enough labelled leads to judge yet"
        week = f"week of {self.week_start:%Y-%m-%d}"
        return f"{week} below target: {'; '.join(self.misses)}" if self.misses else f"{week} met the targets"


def latest_complete_verdict(weeks: Sequence[WeekPerformance], as_of: pd.Timestamp) -> TargetsVerdict:
    """The latest week that is over by ``as_of`` and has enough labels, across the versions that scored in it.

    Outcomes lag the leads by days or weeks, so the newest calendar week has few labels; the
    verdict is the newest week the labels let us judge.
    """
    as_of = pd.Timestamp(as_of)
    judged = [w for w in weeks if w.status != "too_few_labels" and w.week_start + pd.Timedelta(days=7) <= as_of]
    if not judged:
        return TargetsVerdict("no_judged_week")
    latest = max(w.week_start for w in judged)
    misses = tuple(f"v{w.model_version}: {miss}" for w in judged if w.week_start == latest for miss in w.misses)
    return TargetsVerdict("below_target" if misses else "ok", latest, misses)


# -- the training data side -------------------------------------------------------------------------


def scored_lead_rows(model_input: pd.DataFrame, scored_at: pd.Timestamp) -> pd.DataFrame:
    """The `scored_leads` rows of a scored batch: its model input (no label) and when it was scored."""
    rows = model_input.drop(columns=[LABEL], errors="ignore").copy()
    rows[FIRST_SCORED_AT] = pd.Timestamp(scored_at)
    return rows.reset_index(drop=True)


@dataclass(frozen=True)
class NewTrainingRows:
    rows: pd.DataFrame  # model_input rows to upsert by lead_id
    added: int  # leads model_input did not have
    relabelled: int  # leads it had, with another label


def labelled_training_rows(
    scored_leads: pd.DataFrame, outcomes: pd.DataFrame, current: pd.DataFrame
) -> NewTrainingRows:
    """Scored leads that now have an outcome, as `model_input` rows, less those already there as they are.

    ``current``: `model_input`'s ``lead_id`` and label. A lead it already holds with the same label
    is left alone; with another label, the outcome (the newer label) replaces it: one row per lead.
    """
    labelled = scored_leads.drop(columns=[FIRST_SCORED_AT], errors="ignore").merge(
        outcomes[[LEAD_ID, LABEL]], on=LEAD_ID, how="inner"
    )
    labelled[LABEL] = labelled[LABEL].astype("int64")
    before = current.drop_duplicates(LEAD_ID).set_index(LEAD_ID)[LABEL].reindex(labelled[LEAD_ID]).to_numpy()
    known = ~pd.isna(before)
    relabelled = known & (before != labelled[LABEL].to_numpy())
    write = ~known | relabelled
    return NewTrainingRows(labelled[write].reset_index(drop=True), int((~known).sum()), int(relabelled.sum()))


def retrain_reason(added: int, relabelled: int, verdict: TargetsVerdict) -> str:
    """Why the training data should be republished, in words; empty when there is no reason."""
    reasons = []
    if added or relabelled:
        reasons.append(f"{added} newly labelled lead(s), {relabelled} relabelled")
    if verdict.status == "below_target":
        reasons.append(verdict.describe())
    return "; ".join(reasons)


def retrain_tags(triggering_events: Mapping[object, Iterable[object]] | None) -> dict[str, str]:
    """The `retrain_reason` carried by the asset events that triggered a training run, as run tags."""
    reasons = [
        str(extra[RETRAIN_REASON])
        for events in (triggering_events or {}).values()
        for event in events
        if (extra := getattr(event, "extra", None) or {}).get(RETRAIN_REASON)
    ]
    return {RETRAIN_REASON: " | ".join(dict.fromkeys(reasons))[:5000]} if reasons else {}


def outcomes_from_labelled(leads: pd.DataFrame, delay_days: int = 14) -> pd.DataFrame:
    """An outcome export for validated, labelled leads (the demo's stand-in for the CRM)."""
    return pd.DataFrame(
        {
            LEAD_ID: leads[LEAD_ID].to_numpy(),
            LABEL: leads[LABEL].astype("int64").to_numpy(),
            OUTCOME_AT: (pd.to_datetime(leads[CREATED_DATE]) + pd.Timedelta(days=delay_days)).dt.normalize().to_numpy(),
        }
    )
