"""The feedback pipeline: CRM outcomes -> `outcomes` -> realized `model_performance` -> more `model_input`.

``run_feedback`` runs it in one process (the CLI); the ``*_step`` functions run one step each for the
daily Airflow DAG. Every step is idempotent: the same outcomes file, or a rerun of the same DAG
interval, leaves the tables as the first run left them. The pure rules live in
:mod:`lead_scoring.core.feedback`; this module reads and writes the staging database and MLflow.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lead_scoring.adapters.mlflow.registry import training_cutoffs
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.business import bucket_table, gain_table
from lead_scoring.core.feedback import (
    Figures,
    NewTrainingRows,
    TargetsVerdict,
    Verdict,
    WeekPerformance,
    labelled_training_rows,
    latest_complete_verdict,
    out_of_sample,
    performance_table,
    realized_figures,
    retrain_reason,
    weekly_performance,
)
from lead_scoring.core.shadow import ShadowVerdict
from lead_scoring.errors import BelowTargetError, InputDataError
from lead_scoring.pipelines.outcomes import IngestSummary, ingest_outcomes
from lead_scoring.pipelines.shadow import shadow_step
from lead_scoring.pipelines.steps import StepCallback, naive_utc
from lead_scoring.schema import (
    CREATED_DATE,
    LABEL,
    LEAD_ID,
    MODEL_INPUT,
    MODEL_PERFORMANCE,
    OUTCOMES,
    PREDICTIONS,
    SCORED_LEADS,
)
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)


# -- outcomes in -------------------------------------------------------------------------------------


def _read_if_present(db: StagingDatabase, table: str, columns: list[str]) -> pd.DataFrame | None:
    return db.read_table(table, columns=columns) if db.has_table(table) else None


# -- realized performance ---------------------------------------------------------------------------


def scored_with_outcomes(
    db: StagingDatabase, model_name: str, trained_until: Mapping[str, pd.Timestamp]
) -> pd.DataFrame:
    """Every prediction of the model with its lead's created_date and outcome (missing when none yet),
    less the leads each version was trained on (up to its ``trained_until``, see ``out_of_sample``)."""
    columns = [LEAD_ID, "score", "predicted_label", "model_name", "model_version"]
    predictions = db.read_table(PREDICTIONS, columns=columns)
    predictions = predictions[predictions["model_name"] == model_name].drop(columns=["model_name"])
    created = db.read_table(SCORED_LEADS, columns=[LEAD_ID, CREATED_DATE])
    outcomes = _read_if_present(db, OUTCOMES, [LEAD_ID, LABEL])
    if outcomes is None:
        outcomes = pd.DataFrame({LEAD_ID: pd.Series(dtype=object), LABEL: pd.Series(dtype="float64")})
    frame = predictions.merge(created, on=LEAD_ID, how="inner").merge(outcomes, on=LEAD_ID, how="left")
    frame["model_version"] = frame["model_version"].astype(str)
    return out_of_sample(frame, trained_until)


@dataclass(frozen=True)
class PerformanceSummary:
    weeks: tuple[WeekPerformance, ...]
    verdict: TargetsVerdict
    shadow: ShadowVerdict | None = None  # the challenger scored as a shadow, against the champion

    def count(self, status: str) -> int:
        return sum(1 for week in self.weeks if week.status == status)


def recompute_performance(settings: Settings, as_of: object | None = None) -> PerformanceSummary:
    """Rebuild `model_performance` from `predictions`, `scored_leads` and `outcomes`; the same figures to MLflow.

    The table is replaced whole in one transaction, so a rerun leaves it as it was.
    """
    targets = settings.feedback.targets
    cutoffs = training_cutoffs(settings)
    with StagingDatabase(settings.db_url) as db:
        scored = scored_with_outcomes(db, settings.model_name, cutoffs)
        weeks = weekly_performance(scored, settings.feedback.min_labelled_leads, targets)
        db.replace_tables({MODEL_PERFORMANCE: performance_table(weeks)}, run_key_for(f"performance:{uuid.uuid4()}"))
        outcomes = _read_if_present(db, OUTCOMES, [LEAD_ID, LABEL])
    moment = naive_utc(as_of) if as_of is not None else pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    verdict = latest_complete_verdict(weeks, moment)
    try:
        _log_to_mlflow(settings, weeks, scored)
    except Exception as exc:  # noqa: BLE001 - the tables are written; only the MLflow copy of the figures is lost
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("realized figures not logged to MLflow (the tables are written): %s", first_line)
    return PerformanceSummary(weeks, verdict, shadow_step(settings, outcomes))


def live_sales_tables(scored: pd.DataFrame, version: str, hot: float, warm: float) -> dict[str, list[dict[str, Any]]]:
    """The business view of a version's live leads with an outcome: gain by top X% and bucket conversion."""
    labelled = scored[(scored["model_version"] == version) & scored[LABEL].notna()]
    if labelled.empty:
        return {}
    y, score = labelled[LABEL].astype(int), labelled["score"].astype(float)
    return {
        "sales/gain_live.json": gain_table(y, score),
        "sales/buckets_live.json": bucket_table(y, score, hot, warm),
    }


def _log_to_mlflow(settings: Settings, weeks: tuple[WeekPerformance, ...], scored: pd.DataFrame) -> None:
    from lead_scoring.adapters.mlflow.tracking import tracking

    track = tracking(settings)
    for version in sorted({week.model_version for week in weeks}, key=lambda v: (len(v), v)):
        tables = live_sales_tables(scored, version, settings.hot_cutoff, settings.warm_cutoff)
        track.monitoring.log_model_performance(version, [w.row() for w in weeks if w.model_version == version], tables)


def realized_for(settings: Settings, lead_ids: tuple[str, ...]) -> dict[str, Figures]:
    """Per model version, the realized figures over the given leads' current outcomes."""
    cutoffs = training_cutoffs(settings)
    with StagingDatabase(settings.db_url) as db:
        scored = scored_with_outcomes(db, settings.model_name, cutoffs)
    scored = scored[scored[LEAD_ID].isin(set(lead_ids)) & scored[LABEL].notna()]
    return {
        version: realized_figures(group[LABEL].to_numpy(), group["score"].to_numpy(), group["predicted_label"])
        for version, group in sorted(scored.groupby("model_version"), key=lambda item: (len(item[0]), item[0]))
    }


# -- more training data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppendSummary:
    added: int  # leads model_input did not have
    relabelled: int  # leads it had with another label
    model_input_rows: int


def append_labelled(settings: Settings) -> AppendSummary:
    """Upsert the scored leads that have an outcome into `model_input` (one row per lead_id).

    Every labelled scored lead is considered each time, so a `prepare` that replaced
    `model_input` with a new export gets them back on the next run; those already there with
    the same label are not rewritten.
    """
    added = relabelled = 0
    with StagingDatabase(settings.db_url) as db:
        # a `prepare` that publishes between the read and the upsert replaces the rows just added:
        # when the row count says so, look again (each round adds only what is missing)
        for _round in range(_APPEND_ROUNDS):
            before = _count(db, MODEL_INPUT)
            fresh = _missing_training_rows(db)
            if fresh is None or not len(fresh.rows):
                break
            db.merge_rows(run_key_for(f"append:{uuid.uuid4()}"), MODEL_INPUT, fresh.rows, keys=[LEAD_ID])
            if _round == 0:  # later rounds only put back what a publish replaced
                added, relabelled = fresh.added, fresh.relabelled
            if _count(db, MODEL_INPUT) == before + fresh.added:
                break
        total = _count(db, MODEL_INPUT)
    log.info("model_input: %d newly labelled lead(s) added, %d relabelled", added, relabelled)
    return AppendSummary(added, relabelled, total)


_APPEND_ROUNDS = 3


def _missing_training_rows(db: StagingDatabase) -> NewTrainingRows | None:
    outcomes = _read_if_present(db, OUTCOMES, [LEAD_ID, LABEL])
    if outcomes is None or outcomes.empty:
        return None
    if db.has_table(MODEL_INPUT) and LABEL not in db.columns(MODEL_INPUT):
        raise InputDataError(
            f"{MODEL_INPUT} in {db.redacted_url} has no {LABEL} column (it was prepared from an unlabelled "
            "export): prepare a labelled export before feeding outcomes back; nothing was appended"
        )
    scored = db.read_table(SCORED_LEADS)
    current = _read_if_present(db, MODEL_INPUT, [LEAD_ID, LABEL])
    if current is None:
        current = pd.DataFrame({LEAD_ID: pd.Series(dtype=object), LABEL: pd.Series(dtype="int64")})
    return labelled_training_rows(scored, outcomes, current)


def _count(db: StagingDatabase, table: str) -> int:
    if not db.has_table(table):
        return 0
    return int(db.query(f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0])


# -- the whole loop in one process (CLI) ------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackSummary:
    ingest: IngestSummary
    performance: PerformanceSummary
    realized: dict[str, Figures]
    appended: AppendSummary
    seconds: float

    @property
    def retrain_reason(self) -> str:
        return retrain_reason(self.appended.added, self.appended.relabelled, self.performance.verdict)


def run_feedback(settings: Settings, outcomes_path: str | Path, on_step: StepCallback | None = None) -> FeedbackSummary:
    """Ingest an outcome export, recompute the realized performance, and extend `model_input`."""
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    notify("ingest")
    ingest = ingest_outcomes(settings, outcomes_path)
    notify("performance")
    performance = recompute_performance(settings)
    realized = realized_for(settings, ingest.lead_ids)
    notify("append")
    appended = append_labelled(settings)
    return FeedbackSummary(ingest, performance, realized, appended, round(time.perf_counter() - started, 3))


# -- one step per task of the daily DAG --------------------------------------------------------------


def outcomes_file(settings: Settings, interval_start: object) -> Path:
    """The interval's outcome export: `outcomes_YYYY-MM-DD.csv` in the outcomes folder."""
    return settings.outcomes_dir / f"outcomes_{naive_utc(interval_start):%Y-%m-%d}.csv"


def find_outcomes_step(settings: Settings, interval_start: object) -> bool:
    """Whether the interval's outcome file landed (no file: the rest of the run is skipped)."""
    path = outcomes_file(settings, interval_start)
    log.info("%s: %s", path, "landed" if path.is_file() else "not there; nothing to do today")
    return path.is_file()


@dataclass(frozen=True)
class IngestCounts:
    """What the ingest task did (its XCom, as a dict): the file's outcomes matched, new, changed, never
    scored, and the labels the date rules ignored."""

    matched: int
    new: int
    changed: int
    unmatched: int
    after_arrival: int = 0
    before_lead: int = 0


@dataclass(frozen=True)
class PerformanceCounts:
    """What the performance task recomputed (its XCom, as a dict)."""

    weeks: int
    below_target: int
    verdict: Verdict


@dataclass(frozen=True)
class TargetsCheck:
    """The check-targets task's verdict (its XCom, as a dict)."""

    verdict: Verdict
    week_start: str | None


def ingest_step(settings: Settings, interval_start: object) -> IngestCounts:
    summary = ingest_outcomes(settings, outcomes_file(settings, interval_start))
    return IngestCounts(
        matched=summary.matched,
        new=summary.new,
        changed=summary.changed,
        unmatched=summary.unmatched,
        after_arrival=summary.after_arrival,
        before_lead=summary.before_lead,
    )


def performance_step(settings: Settings, interval_end: object) -> PerformanceCounts:
    summary = recompute_performance(settings, as_of=interval_end)
    return PerformanceCounts(
        weeks=len(summary.weeks), below_target=summary.count("below_target"), verdict=summary.verdict.status
    )


def append_step(settings: Settings) -> AppendSummary:
    return append_labelled(settings)


def retrain_reason_step(settings: Settings, appended: Mapping[str, int], interval_end: object) -> str:
    """Why `model_input` should be republished (new labels, or a week below target); empty: it need not.

    ``appended``: the append task's XCom, an :class:`AppendSummary` as a dict.
    """
    added = AppendSummary(**appended)
    weeks = _stored_weeks(settings)
    verdict = latest_complete_verdict(weeks, naive_utc(interval_end))
    reason = retrain_reason(added.added, added.relabelled, verdict)
    log.info("retraining: %s", reason or "no reason")
    return reason


def check_targets_step(settings: Settings, interval_end: object) -> TargetsCheck:
    """Raise :class:`BelowTargetError` when the latest complete judged week missed a target."""
    verdict = latest_complete_verdict(_stored_weeks(settings), naive_utc(interval_end))
    if verdict.status == "below_target":
        raise BelowTargetError(f"realized performance: {verdict.describe()}")
    log.info("realized performance: %s", verdict.describe())
    return TargetsCheck(verdict=verdict.status, week_start=str(verdict.week_start) if verdict.week_start else None)


def _stored_weeks(settings: Settings) -> tuple[WeekPerformance, ...]:
    """The weekly figures, recomputed from the tables the performance step read (a small join)."""
    targets = settings.feedback.targets
    cutoffs = training_cutoffs(settings)
    with StagingDatabase(settings.db_url) as db:
        scored = scored_with_outcomes(db, settings.model_name, cutoffs)
    return weekly_performance(scored, settings.feedback.min_labelled_leads, targets)
