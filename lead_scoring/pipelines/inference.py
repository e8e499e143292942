"""The daily inference DAG, one function per task: the interval's landed leads -> validated -> model
input -> scored by the champion -> `predictions`, the outbox file, then monitoring.

Data passes between tasks through this run's scratch tables; every run is keyed by its data
interval, so a rerun or backfill of a day replaces its own rows and its own ``scoring_runs`` record.
The scoring itself is :mod:`lead_scoring.pipelines.scoring`, which the CLI's ``score`` runs in one process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lead_scoring.adapters.exports import write_spreadsheet_csv
from lead_scoring.adapters.scored_leads import record_scored_leads
from lead_scoring.adapters.scoring_runs import recent_scores, record_run
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.mappings import load_mappings
from lead_scoring.core.monitoring import DriftStatus
from lead_scoring.core.scoring import PREDICTION_COLUMNS
from lead_scoring.errors import DriftDetectedError, InputDataError
from lead_scoring.pipelines.data import read_and_validate, transform_leads
from lead_scoring.pipelines.scoring import load_model, predict, publish_online_cut, summarise
from lead_scoring.schema import CREATED_DATE, LEAD_ID, MODEL_INPUT, PREDICTIONS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

SCORING_LEADS = "scoring_leads"  # scratch: the validated leads of one run
SCORING_INPUT = "scoring_model_input"  # scratch: their model input
SCORED = "scored"  # scratch: their predictions, before they are merged into `predictions`


def interval_run_key(interval_start: str) -> str:
    """The key of a daily run: its data interval, so reruns and backfills replace their own rows."""
    return f"interval:{_naive_utc(interval_start).isoformat()}"


def _naive_utc(moment: object) -> pd.Timestamp:
    """Lead dates are naive UTC; Airflow's interval bounds are aware."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def landing_files(settings: Settings, interval_start: str) -> list[Path]:
    """The day's file `leads_YYYY-MM-DD.csv` when it landed, else every CSV in the landing folder."""
    day_file = settings.landing_dir / f"leads_{_naive_utc(interval_start):%Y-%m-%d}.csv"
    if day_file.is_file():
        return [day_file]
    return sorted(settings.landing_dir.glob("*.csv"))


def check_input_step(settings: Settings, interval_start: str, interval_end: str) -> int:
    """How many landed leads were created in the interval (0: nothing to score today)."""
    files = landing_files(settings, interval_start)
    if not files:
        raise InputDataError(f"{settings.landing_dir}: no lead files have landed (expected leads_YYYY-MM-DD.csv)")
    start, end = _naive_utc(interval_start), _naive_utc(interval_end)
    count = 0
    for path in files:
        try:
            dates = pd.read_csv(path, usecols=[CREATED_DATE])[CREATED_DATE]
        except ValueError:
            raise InputDataError(f"{path}: missing required column(s): {CREATED_DATE}") from None
        created = pd.to_datetime(dates, errors="coerce")
        count += int(((created >= start) & (created < end)).sum())
    log.info("%d lead(s) created in [%s, %s) in %s", count, start, end, ", ".join(map(str, files)))
    return count


def validate_step(settings: Settings, interval_start: str, interval_end: str) -> int:
    """Validate the landed files and keep the interval's leads as this run's scratch table."""
    start, end = _naive_utc(interval_start), _naive_utc(interval_end)
    frames = []
    for path in landing_files(settings, interval_start):
        validated, _ = read_and_validate(path, use_label=False)
        frames.append(validated[(validated[CREATED_DATE] >= start) & (validated[CREATED_DATE] < end)])
    leads = pd.concat(frames, ignore_index=True).drop_duplicates(subset=[LEAD_ID])
    with _scratch(settings) as db:
        db.write_scratch(_key(interval_start), SCORING_LEADS, leads)
    return len(leads)


def transform_step(settings: Settings, interval_start: str) -> int:
    with _scratch(settings) as db:
        leads = db.read_scratch(_key(interval_start), SCORING_LEADS)
        model_input = transform_leads(leads, load_mappings(settings))[MODEL_INPUT]
        db.write_scratch(_key(interval_start), SCORING_INPUT, model_input)
    return len(model_input)


def score_step(settings: Settings, interval_start: str) -> str:
    """Score the interval's leads with the champion; returns the model version that scored them."""
    champion = load_model(settings)
    with _scratch(settings) as db:
        model_input = db.read_scratch(_key(interval_start), SCORING_INPUT)
        recent = recent_scores(db, champion, settings.policy_pool)
        predictions = predict(settings, champion, model_input, recent)
        db.write_scratch(_key(interval_start), SCORED, predictions)
    publish_online_cut(settings, champion, predictions, recent)
    return champion.version


def write_step(settings: Settings, interval_start: str) -> int:
    """Merge the run's predictions into `predictions` (same leads, same model: replaced) and keep their
    model input in `scored_leads` for the feedback loop."""
    with _scratch(settings) as db:
        scored = db.read_scratch(_key(interval_start), SCORED)
        keys = [LEAD_ID, "model_name", "model_version"]
        written = db.merge_rows(_key(interval_start), PREDICTIONS, scored, keys=keys)
        model_input = db.read_scratch(_key(interval_start), SCORING_INPUT)
        record_scored_leads(db, interval_run_key(interval_start), model_input, scored["scored_at"].max())
        return written


def outbox_path(settings: Settings, interval_start: str) -> Path:
    """The day's file for sales: ``$LEAD_SCORING_HOME/outbox/scored_YYYY-MM-DD.csv``."""
    return settings.outbox_dir / f"scored_{_naive_utc(interval_start):%Y-%m-%d}.csv"


def outbox_step(settings: Settings, interval_start: str) -> str:
    """Write the day's scored leads, hottest first, to the outbox (spreadsheet-safe; a rerun of the
    day rewrites its file whole). Returns the file's path."""
    with _scratch(settings) as db:
        scored = db.read_scratch(_key(interval_start), SCORED)
    order = np.lexsort((scored[LEAD_ID].astype(str).to_numpy(), -scored["score"].to_numpy(dtype=float)))
    day = scored.take(order).reset_index(drop=True)[list(PREDICTION_COLUMNS)]  # as `score --output` writes
    path = write_spreadsheet_csv(day, outbox_path(settings, interval_start))
    log.info("wrote %d scored lead(s) to %s", len(day), path)
    return str(path)


@dataclass(frozen=True)
class Monitored:
    """What the monitor task recorded (its XCom, as a dict)."""

    rows_scored: int
    status: DriftStatus


def monitor_step(settings: Settings, interval_start: str, interval_end: str, model_version: str) -> Monitored:
    """Record the run in `scoring_runs` and MLflow; raise :class:`DriftDetectedError` past the drift limit."""
    key = _key(interval_start)
    scoring = load_model(settings, version=model_version)
    with _scratch(settings) as db:
        model_input = db.read_scratch(key, SCORING_INPUT)
        predictions = db.read_scratch(key, SCORED)
        summary = summarise(
            interval_run_key(interval_start), str(settings.landing_dir), scoring, model_input, predictions, settings
        )
        record_run(db, settings, summary, interval=(str(interval_start), str(interval_end)))
        db.drop_scratch(key)
    if summary.status == "drifted":
        raise DriftDetectedError(
            f"input drift on {interval_start}: {summary.monitoring.summary} "
            f"(limit {settings.drift_limit}); scores were written"
        )
    return Monitored(rows_scored=summary.rows_scored, status=summary.status)


def discard_step(settings: Settings, interval_start: str) -> None:
    with _scratch(settings) as db:
        db.drop_scratch(_key(interval_start))


def _key(interval_start: str) -> str:
    return run_key_for(interval_run_key(interval_start))


def _scratch(settings: Settings) -> StagingDatabase:
    return StagingDatabase(settings.db_url)
