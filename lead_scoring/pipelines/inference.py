"""The daily inference DAG, one function per task: the interval's landed leads -> validated -> model
input -> scored by the champion -> `predictions`, the outbox file, then monitoring.

Data passes between tasks through this run's scratch tables; every run is keyed by its data
interval, so a rerun or backfill of a day replaces its own rows and its own ``scoring_runs`` record,
and scores with the version that first decided the day (`served_days`).
The scoring itself is :mod:`lead_scoring.pipelines.scoring`, which the CLI's ``score`` runs in one process.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lead_scoring.adapters.alarms import read_alarms, store_alarm
from lead_scoring.adapters.exports import write_spreadsheet_csv
from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.adapters.mlflow.registry import CHALLENGER, ScoringModel, version_by_alias
from lead_scoring.adapters.scored_leads import record_scored_leads
from lead_scoring.adapters.scoring_runs import (
    production_window,
    quiet_days_before,
    record_run,
    stream_began_before,
)
from lead_scoring.adapters.served_days import record_served, served_version
from lead_scoring.adapters.sources import read_column
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.alarms import BASE_RATE, Alarm, AlarmState, DayChecks, decide_alarm
from lead_scoring.core.monitoring import DriftStatus
from lead_scoring.core.scoring import PREDICTION_COLUMNS, SHADOW_ROLE
from lead_scoring.errors import DriftDetectedError, InputDataError, ModelNotFoundError
from lead_scoring.pipelines.data import read_and_validate, transform_leads
from lead_scoring.pipelines.scoring import (
    day_share,
    describe_decision,
    flag_with_share,
    load_model,
    newest_production_batch,
    predict,
    publish_online_cut,
    rank_pool,
    summarise,
)
from lead_scoring.pipelines.steps import naive_utc
from lead_scoring.schema import CREATED_DATE, LEAD_ID, MODEL_INPUT, PREDICTIONS, SERVED_DAYS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

SCORING_LEADS = "scoring_leads"  # scratch: the validated leads of one run
SCORING_INPUT = "scoring_model_input"  # scratch: their model input
SCORED = "scored"  # scratch: their predictions, before they are merged into `predictions`
SHADOW = "shadow_scored"  # scratch: the challenger's predictions of the same leads (never acted on)


def interval_run_key(interval_start: str) -> str:
    """The key of a daily run: its data interval, so reruns and backfills replace their own rows."""
    return f"interval:{naive_utc(interval_start).isoformat()}"


def landing_files(settings: Settings, interval_start: str) -> list[Path]:
    """The day's file `leads_YYYY-MM-DD.csv` when it landed, else every CSV in the landing folder."""
    day_file = settings.landing_dir / f"leads_{naive_utc(interval_start):%Y-%m-%d}.csv"
    if day_file.is_file():
        return [day_file]
    return sorted(settings.landing_dir.glob("*.csv"))


def check_input_step(settings: Settings, interval_start: str, interval_end: str) -> int:
    """How many landed leads were created in the interval (0: nothing to score today)."""
    files = landing_files(settings, interval_start)
    if not files:
        raise InputDataError(f"{settings.landing_dir}: no lead files have landed (expected leads_YYYY-MM-DD.csv)")
    start, end = naive_utc(interval_start), naive_utc(interval_end)
    count = 0
    for path in files:
        dates = read_column(path, CREATED_DATE)  # not UTF-8, cut short: said so, not "missing column"
        created = pd.to_datetime(dates, errors="coerce", format="ISO8601")
        count += int(((created >= start) & (created < end)).sum())
    log.info("%d lead(s) created in [%s, %s) in %s", count, start, end, ", ".join(map(str, files)))
    return count


def validate_step(settings: Settings, interval_start: str, interval_end: str, files: list[Path] | None = None) -> int:
    """Validate the landed files (or ``files``) and keep the interval's leads as this run's scratch table."""
    start, end = naive_utc(interval_start), naive_utc(interval_end)
    frames = []
    for path in landing_files(settings, interval_start) if files is None else files:
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
    """Score the interval's leads with the version that serves the day (``day_model``), and with the
    challenger as a shadow when one is registered beside it (skipped, with a warning, when it cannot
    be loaded or fails: ``shadow_rows``); returns the serving version.

    Each is ranked among its own production stream of the leads created before the interval
    starts (``rank_pool``): a rerun or a backfill of the day gives the same flags, whatever was
    scored or promoted since. Only the newest production day publishes the online cut.
    """
    before = naive_utc(interval_start)
    with _scratch(settings) as db:
        champion = day_model(db, settings, before)
        model_input = db.read_scratch(_key(interval_start), SCORING_INPUT)
        pool = rank_pool(db, settings, champion, before)
        scored = predict(settings, champion, model_input, pool, production=True)
        decision = day_share(db, settings, champion, scored["score"].to_numpy(dtype=float), pool, before)
        scored = flag_with_share(champion, scored, pool, decision)
        db.write_scratch(_key(interval_start), SCORED, scored)
        record_served(db, champion.name, before, champion.version)
        log.info("%s", describe_decision(champion, scored, pool, before, decision))
        shadow = shadow_rows(db, settings, champion, model_input, before)
        db.write_scratch(_key(interval_start), SHADOW, scored.head(0) if shadow is None else shadow)
        newest = newest_production_batch(db, champion, scored)
    if newest:
        publish_online_cut(settings, champion, scored, pool, decision)  # the cut the served model labels with
    else:
        log.info("a backfill: the online cut of v%s stays the newest production day's", champion.version)
    return champion.version


def day_model(db: StagingDatabase, settings: Settings, day: pd.Timestamp) -> ScoringModel:
    """The version that serves the interval starting at ``day``: the one that first scored it (in
    `served_days`: a rerun or backfill decides as the day was decided), else today's champion."""
    served = served_version(db, settings.model_name, day)
    if served is None:
        return load_model(settings)
    log.info("the day was decided by v%s: scored with it, whatever serves now", served)
    try:
        return load_model(settings, version=served)
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(
            f"{day:%Y-%m-%d} was decided by v{served} ({exc}): to score it with today's champion, delete its "
            f"row from {SERVED_DAYS} first"
        ) from None


def shadow_rows(
    db: StagingDatabase, settings: Settings, champion: ScoringModel, model_input: pd.DataFrame, before: pd.Timestamp
) -> pd.DataFrame | None:
    """The challenger's predictions of the batch as a shadow; None when there is no challenger, or (with a
    warning) when it cannot be loaded or fails while scoring: the champion's day never depends on it."""
    shadow = None
    try:
        shadow = shadow_model(settings, champion)
        if shadow is None:
            return None
        shadow_pool = rank_pool(db, settings, shadow, before, role=SHADOW_ROLE)
        rows = predict(settings, shadow, model_input, shadow_pool, role=SHADOW_ROLE, production=True)
        shadow_share = day_share(db, settings, shadow, rows["score"].to_numpy(dtype=float), shadow_pool, before)
        rows = flag_with_share(shadow, rows, shadow_pool, shadow_share)
    except Exception as exc:  # noqa: BLE001 - a broken challenger costs its own rows, never the champion's
        which = f"shadow v{shadow.version}" if shadow is not None else "shadow"
        first_line = (str(exc).strip().splitlines() or [""])[0]
        log.warning("%s skipped (the champion's scores stand): %s: %s", which, type(exc).__name__, first_line)
        return None
    log.info("shadow v%s scored %d lead(s) beside v%s", shadow.version, len(rows), champion.version)
    return rows


def shadow_model(settings: Settings, champion: ScoringModel) -> ScoringModel | None:
    """The registry's `challenger` when it is another version than the champion: it scores beside it."""
    found = version_by_alias(settings, CHALLENGER)
    if found is None or str(found.version) == str(champion.version):
        return None
    return load_model(settings, version=str(found.version))


def write_step(settings: Settings, interval_start: str) -> int:
    """Merge the run's predictions (and the shadow's) into `predictions` (same leads, same model:
    replaced) and keep their model input in `scored_leads` for the feedback loop."""
    with _scratch(settings) as db:
        key = _key(interval_start)
        scored = db.read_scratch(key, SCORED)
        keys = [LEAD_ID, "model_name", "model_version"]
        written = db.merge_rows(key, PREDICTIONS, scored, keys=keys)
        if db.has_table(db.scratch_name(key, SHADOW)):
            shadow = db.read_scratch(key, SHADOW)
            if len(shadow):
                db.merge_rows(key, PREDICTIONS, shadow, keys=keys)
        model_input = db.read_scratch(key, SCORING_INPUT)
        record_scored_leads(db, interval_run_key(interval_start), model_input, scored["scored_at"].max())
        return written


def outbox_path(settings: Settings, interval_start: str) -> Path:
    """The day's file for sales: ``$LEAD_SCORING_HOME/outbox/scored_YYYY-MM-DD.csv``."""
    return settings.outbox_dir / f"scored_{naive_utc(interval_start):%Y-%m-%d}.csv"


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
    alarm_state: AlarmState = "none"
    alarm: str = ""


def monitor_step(
    settings: Settings, interval_start: str, interval_end: str, model_version: str, *, raise_on_alarm: bool = True
) -> Monitored:
    """Record the run in `scoring_runs` and MLflow, with its drift alarm; raise :class:`DriftDetectedError`
    on the day an alarm opens (Airflow's alerting fires), not on the later days of the same episode.

    Drift is measured on the production leads of the ``drift_window_days`` days ending with this one
    (see ``drift_window``), against the model's reference profile.
    """
    key = _key(interval_start)
    scoring = load_model(settings, version=model_version)
    day = naive_utc(interval_start)
    with _scratch(settings) as db:
        model_input = db.read_scratch(key, SCORING_INPUT)
        predictions = db.read_scratch(key, SCORED)
        window = drift_window(db, settings, scoring, day, model_input, predictions)
        pool = rank_pool(db, settings, scoring, day)  # point in time: the pool the score step ranked among
        share = day_share(db, settings, scoring, predictions["score"].to_numpy(dtype=float), pool, day)
        summary = summarise(
            interval_run_key(interval_start), str(settings.landing_dir), scoring, model_input, predictions, settings,
            drift_on=window, share=share,
        )  # fmt: skip
        moved = summary.monitoring.drifted_features if summary.status == "drifted" else ()
        first = day - pd.Timedelta(days=settings.monitoring.drift_window_days - 1)  # the window's first day
        if moved and not stream_began_before(db, scoring.name, first + pd.Timedelta(days=1)):
            # the stream's first days: a window of fewer days (a weekend alone) is not what the limits
            # are for; the drift is recorded in scoring_runs, an alarm waits for a whole window
            log.warning("drift on a partial window (the stream began after %s): no alarm yet", f"{first:%Y-%m-%d}")
            moved = ()
        figures = summary.monitoring.summary
        if share.disagree:  # the decision cannot adapt on its estimate: the alarm's case (core.daily_share)
            moved, figures = (*moved, BASE_RATE), f"{figures}; {share.reason}"
        alarms = read_alarms(db, scoring.name)
        checks = DayChecks(f"{day:%Y-%m-%d}", moved, figures, _quiet_before(db, scoring.name, alarms, day))
        decision = decide_alarm(
            scoring.name, scoring.version, checks, alarms, scoring.tags.get("trained_until") or None,
            quiet_days=settings.monitoring.alarm_quiet_days,
        )  # fmt: skip
        if decision.changed is not None:
            store_alarm(db, decision.changed)
        summary = replace(
            summary,
            decision=describe_decision(scoring, predictions, pool, day, share),
            pool_leads=len(pool),
            share=share,
            alarm=decision.line,
            alarm_state=decision.state,
            alarm_id=decision.alarm.alarm_id if decision.alarm else "",
        )
        record_run(db, settings, summary, interval=(str(interval_start), str(interval_end)))
        db.drop_scratch(key)
    if decision.line:
        log.warning("alarm %s", decision.line)
    if decision.state == "opened" and raise_on_alarm:
        raise DriftDetectedError(f"input drift on {day:%Y-%m-%d}: alarm {decision.line}; scores were written")
    return Monitored(summary.rows_scored, summary.status, decision.state, decision.line)


def _quiet_before(db: StagingDatabase, name: str, alarms: list[Alarm], day: pd.Timestamp) -> int:
    """The quiet days in a row recorded right before ``day`` in the episode open on it (0: none open)."""
    today = f"{day:%Y-%m-%d}"
    open_on = [a.opened_on for a in alarms if a.opened_on < today and (a.closed_on is None or a.closed_on >= today)]
    return quiet_days_before(db, name, max(open_on), day) if open_on else 0


def drift_window(
    db: StagingDatabase,
    settings: Settings,
    scoring: ScoringModel,
    day: pd.Timestamp,
    model_input: pd.DataFrame,
    predictions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model input and predictions a day's drift is measured on: the day's batch and the production
    leads created in the ``drift_window_days - 1`` days before it. A day of a hundred leads alone is
    a noisy sample (on the Oct-Dec 2021 leads, 85 of 92 single days past the PSI limit); a week
    holds every weekday once."""
    start = day - pd.Timedelta(days=settings.monitoring.drift_window_days - 1)
    past_input, past_predictions = production_window(db, scoring.name, scoring.version, start, day)
    columns = list(model_input.columns)
    if len(past_input):
        model_input = pd.concat([past_input[columns], model_input], ignore_index=True)
    if len(past_predictions):
        predictions = pd.concat([past_predictions, predictions[["score", "predicted_label"]]], ignore_index=True)
    return model_input, predictions


def score_interval(
    settings: Settings,
    interval_start: str,
    interval_end: str,
    leads: str | Path | pd.DataFrame,
    *,
    raise_on_alarm: bool = True,
) -> Monitored:
    """One day of the daily DAG in one call, through the same steps: the leads of ``leads`` (a raw
    export, as a path or a frame of its columns) created in the interval are validated, scored by
    the champion (and the shadow), written, left in the outbox and monitored. For the replay.

    ``raise_on_alarm``: raise :class:`DriftDetectedError` when an alarm opens, as the task does;
    otherwise the returned ``alarm_state`` says ``opened``.
    """
    with tempfile.TemporaryDirectory(prefix="lead-scoring-interval-") as tmp:
        if isinstance(leads, pd.DataFrame):
            path = Path(tmp) / f"leads_{naive_utc(interval_start):%Y-%m-%d}.csv"
            leads.to_csv(path, index=False)
        else:
            path = Path(leads)
        try:
            if not validate_step(settings, interval_start, interval_end, files=[path]):
                return Monitored(rows_scored=0, status="no_leads")
            transform_step(settings, interval_start)
            version = score_step(settings, interval_start)
            write_step(settings, interval_start)
            outbox_step(settings, interval_start)
            return monitor_step(settings, interval_start, interval_end, version, raise_on_alarm=raise_on_alarm)
        finally:
            discard_step(settings, interval_start)


def discard_step(settings: Settings, interval_start: str) -> None:
    with _scratch(settings) as db:
        db.drop_scratch(_key(interval_start))


def _key(interval_start: str) -> str:
    return run_key_for(interval_run_key(interval_start))


def _scratch(settings: Settings) -> StagingDatabase:
    return StagingDatabase(settings.db_url)
