"""`lead-scoring replay`: what would this setup have done last quarter? Operation replayed day by day.

In a home of its own (a staging SQLite and an MLflow store), the replay prepares and trains on the
labelled leads created before ``--from``; then for each day of ``--from``..``--to`` it runs the
inference DAG's steps on that day's leads (landed as ``leads_YYYY-MM-DD.csv``), and every
``--retrain`` days it feeds the outcomes of the leads at least ``--outcome-lag`` days old through
the feedback DAG's steps and retrains through the training DAG's steps (register, promote). The
same functions the DAGs call, one after the other, in one process.

It grades the flags each lead got when it was scored against the label the export gives it, month
by month, and lists the promotions with their reasons and the days the monitor failed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.adapters.sources import read_raw_leads
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.core.feedback import outcomes_from_labelled, realized_figures
from lead_scoring.errors import DriftDetectedError, InputDataError, InvalidArgumentError, LeadScoringError
from lead_scoring.pipelines import feedback, inference, training
from lead_scoring.pipelines.data import prepare, read_and_validate
from lead_scoring.pipelines.steps import StepCallback
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, PREDICTIONS, SCORED_LEADS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonthFigures:
    """One month of the replay, graded on the labels the export gives its leads."""

    month: str
    leads: int
    base_rate: float
    auc: float | None
    precision: float | None
    recall: float | None
    flagged_share: float

    def row(self) -> dict[str, object]:
        return {
            "month": self.month,
            "leads": self.leads,
            "base_rate": round(self.base_rate, 4),
            "auc": None if self.auc is None else round(self.auc, 4),
            "precision": None if self.precision is None else round(self.precision, 4),
            "recall": None if self.recall is None else round(self.recall, 4),
            "flagged_share": round(self.flagged_share, 4),
        }


@dataclass(frozen=True)
class Retrain:
    """One retrain of the replay: the day, the version it registered, and the gate's decision."""

    day: str
    version: str
    promoted: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Alarm:
    day: str
    message: str


@dataclass
class ReplayReport:
    start: str
    end: str
    months: list[MonthFigures] = field(default_factory=list)
    retrains: list[Retrain] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # retrain days without newly labelled leads
    days: int = 0
    first_version: str = ""
    seconds: float = 0.0
    targets: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    experiment: str = ""  # the MLflow experiment of the run, in the caller's own tracking store
    base_rate: float | None = None  # --base-rate: each replayed month thinned to it (None: as exported)


def replay_settings(base: Settings, home: Path) -> Settings:
    """The settings' knobs with every store inside ``home``: the replay never touches the real ones."""
    return base.with_overrides(
        home=home,
        db_url=f"sqlite:///{home / 'lead_scoring.db'}",
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        artifact_root=home / "mlruns",
        landing_dir=home / "landing",
        outcomes_dir=home / "landing" / "outcomes",
        inference_max_active_runs=1,
    )


_MARKER = ".lead-scoring-replay"  # a home a replay made: the only non-empty one a replay goes on in


@contextmanager
def _home(given: Path | None, base: Settings, input_path: str | Path) -> Iterator[Path]:
    """The replay's own home (a new or empty folder, or one a replay made; else a temporary one).

    An error raised in it names the user's file, never the replay's copies of its leads there.
    """
    if given is not None:
        _refuse_live_home(given, base)
        given.mkdir(parents=True, exist_ok=True)
        (given / _MARKER).touch()
    with contextlib.ExitStack() as stack:
        where = given or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lead-scoring-replay-")))
        try:
            yield where
        except LeadScoringError as exc:
            if str(where) not in str(exc):
                raise
            copies = re.compile(re.escape(str(where)) + r"[^\s:'\"]*")
            raise type(exc)(copies.sub(lambda _m: str(input_path), str(exc))) from None


def _refuse_live_home(home: Path, base: Settings) -> None:
    """A replay writes a staging database and a registry: never where live ones are (or will be)."""
    where = home.expanduser().resolve()
    if where.is_file():
        raise InvalidArgumentError(f"--home {home}: is a file, not a folder")
    live = {base.home.expanduser().resolve()}
    for url in (base.db_url, base.tracking_uri):
        if url.startswith("sqlite:///"):
            live.add(Path(url.removeprefix("sqlite:///").partition("?")[0]).expanduser().resolve().parent)
    if where in live:
        raise InvalidArgumentError(f"--home {home}: holds the live staging database or registry; give a new folder")
    if where.is_dir() and not (where / _MARKER).exists() and any(where.iterdir()):
        raise InvalidArgumentError(f"--home {home}: not empty and not a replay's home; give a new or empty folder")


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay covers: ``start`` to ``end`` (inclusive days), a retrain every ``retrain_days``,
    outcomes known ``outcome_lag`` days after their leads; ``base_rate``: the converting leads of each
    replayed month are thinned at random (seeded) until its base rate is that (a stress yardstick:
    fewer conversions); the months before ``start``, which the first champion trains on, are untouched."""

    start: str
    end: str
    retrain_days: int = 7
    outcome_lag: int = 14
    base_rate: float | None = None


def replay(
    base: Settings,
    input_path: str | Path,
    plan: ReplayPlan,
    *,
    home: Path | None = None,
    on_step: StepCallback | None = None,
) -> ReplayReport:
    """Replay operation on a labelled export as ``plan`` says (its days, retrains, outcome lag)."""
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    retrain_days, outcome_lag, base_rate = plan.retrain_days, plan.outcome_lag, plan.base_rate
    first, last = _day(plan.start, "--from"), _day(plan.end, "--to")
    if last < first or retrain_days < 1 or outcome_lag < 0:
        raise InputDataError("replay: --to must not be before --from, --retrain >= 1 and --outcome-lag >= 0")
    raw = read_raw_leads(input_path)
    if LABEL not in raw.columns:
        raise InputDataError(f"{input_path}: replay needs the label column {LABEL}")
    raw_day = pd.to_datetime(raw[CREATED_DATE], errors="coerce").dt.normalize()
    if base_rate is not None:
        raw = thin_conversions(raw, raw_day, first, last, base_rate)
        raw_day = raw_day.loc[raw.index]
    with _home(home, base, input_path) as where:
        if base_rate is not None:  # the labels the replay grades with are the thinned export's
            input_path = where / "thinned.csv"
            raw.to_csv(input_path, index=False)
        truth, _ = read_and_validate(input_path)  # lead_id, created_date and the label of every lead
        settings = replay_settings(base, where)
        settings.landing_dir.mkdir(parents=True, exist_ok=True)
        settings.outcomes_dir.mkdir(parents=True, exist_ok=True)
        notify("train the first champion")
        history = where / "history.csv"
        raw[raw_day < first].to_csv(history, index=False)
        prepare(settings, history, allow_shrink=True)
        first_retrain = _retrain(settings, first - pd.Timedelta(days=1), first=True)
        report = ReplayReport(
            start=str(first.date()),
            end=str(last.date()),
            first_version=first_retrain.version,
            base_rate=base_rate,
            targets={"precision": settings.target_precision, "recall": settings.target_recall},
        )
        for offset, day in enumerate(pd.date_range(first, last, freq="D")):
            if offset and offset % retrain_days == 0:
                notify(f"feedback and retrain {day:%Y-%m-%d}")
                if _feed_outcomes(settings, truth[truth[CREATED_DATE] >= first], day, outcome_lag):
                    report.retrains.append(_retrain(settings, day))
                else:  # as the DAGs: the training DAG runs when the feedback run changed model_input
                    report.skipped.append(f"{day:%Y-%m-%d}")
            notify(f"score {day:%Y-%m-%d}")
            members = raw[raw_day == day]
            report.days += 1
            if members.empty:
                continue
            members.to_csv(settings.landing_dir / f"leads_{day:%Y-%m-%d}.csv", index=False)
            alarm = score_day(settings, day)
            if alarm is not None:
                report.alarms.append(alarm)
        report.months = monthly_figures(_graded(settings, truth, first, last))
        report.seconds = round(time.perf_counter() - started, 1)
    # the figures outlive the replay's home: they go to the caller's own tracking store
    report.experiment = f"{base.experiment_name}-replay"
    report.run_id = _log_replay(base, report)
    return report


THIN_SEED = 20211001  # --base-rate's draws: the same leads go every time


def thin_conversions(
    raw: pd.DataFrame, days: pd.Series, first: pd.Timestamp, last: pd.Timestamp, rate: float
) -> pd.DataFrame:
    """``raw`` with converting leads of each month of [``first``, ``last``] dropped at random (seeded)
    until the month's base rate is ``rate``; a month already at or below it, and every lead outside
    the range, are kept as they are."""
    rng = np.random.default_rng(THIN_SEED)
    label = pd.to_numeric(raw[LABEL], errors="coerce")
    inside = (days >= first) & (days <= last)
    drop: list[Any] = []
    for _month, members in raw[inside].groupby(days[inside].dt.to_period("M"), sort=True):
        positives = members.index[(label.loc[members.index] == 1).to_numpy()]
        negatives = len(members) - len(positives)
        keep = int(round(rate * negatives / (1.0 - rate)))
        if keep < len(positives):
            drop.extend(rng.choice(np.asarray(positives), size=len(positives) - keep, replace=False).tolist())
    return raw.drop(index=drop)


def score_day(settings: Settings, day: pd.Timestamp) -> Alarm | None:
    """The inference DAG's steps for one day; the monitor's failure is the day's alarm."""
    start, end = str(day), str(day + pd.Timedelta(days=1))
    one_call = getattr(inference, "score_interval", None)  # with shadow scoring: the day in one call
    if one_call is not None:
        try:
            one_call(settings, start, end, settings.landing_dir / f"leads_{day:%Y-%m-%d}.csv")
        except DriftDetectedError as failed:
            return Alarm(f"{day:%Y-%m-%d}", str(failed))
        return None
    if not inference.check_input_step(settings, start, end):
        return None
    inference.validate_step(settings, start, end)
    inference.transform_step(settings, start)
    version = inference.score_step(settings, start)
    inference.write_step(settings, start)
    try:
        inference.monitor_step(settings, start, end, version)
    except DriftDetectedError as failed:
        return Alarm(f"{day:%Y-%m-%d}", str(failed))
    finally:
        inference.discard_step(settings, start)
    return None


def _feed_outcomes(settings: Settings, truth: pd.DataFrame, day: pd.Timestamp, lag: int) -> int:
    """The outcomes of the leads created at least ``lag`` days before ``day``, through the feedback DAG's
    steps; returns how many leads `model_input` gained or had relabelled (0: no reason to retrain)."""
    known = truth[truth[CREATED_DATE] < day - pd.Timedelta(days=lag)]
    outcomes = outcomes_from_labelled(known, delay_days=lag)
    path = feedback.outcomes_file(settings, day)
    outcomes.to_csv(path, index=False)
    with StagingDatabase(settings.db_url) as db:
        scored = set(db.read_table(SCORED_LEADS, columns=[LEAD_ID])[LEAD_ID].astype(str))
    if not set(outcomes[LEAD_ID].astype(str)) & scored:
        return 0  # none of them was scored yet: the CRM has nothing to say about the replayed days
    feedback.ingest_step(settings, day)
    feedback.performance_step(settings, day)
    appended = feedback.append_step(settings)
    return appended.added + appended.relabelled


def _retrain(settings: Settings, day: pd.Timestamp, *, first: bool = False) -> Retrain:
    """The training DAG's steps on every labelled lead the loop has on ``day``; the first model of
    the replay serves whatever the gate says (something must score the first day)."""
    frame = training.load_training_input(settings)
    training.check_input_step(settings, frame=frame)
    run_id = training.train_step(settings, frame=frame)
    version = training.register_step(settings, run_id)
    outcome = training.promote_step(
        settings, version, force=first, reason="the replay's first model" if first else None
    )
    return Retrain(f"{day:%Y-%m-%d}", version, outcome.promoted, outcome.reasons)


def _graded(settings: Settings, truth: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The flags the serving model gave each replayed lead, with the lead's label and creation date."""
    with StagingDatabase(settings.db_url) as db:
        predictions = db.read_table(PREDICTIONS)
    if "role" in predictions.columns:  # shadow rows are never acted on: grade what was served
        predictions = predictions[predictions["role"].fillna("champion") == "champion"]
    predictions = predictions.sort_values("scored_at").drop_duplicates(LEAD_ID, keep="first")
    graded = predictions[[LEAD_ID, "score", "predicted_label"]].merge(
        truth[[LEAD_ID, CREATED_DATE, LABEL]], on=LEAD_ID, how="inner"
    )
    inside = (graded[CREATED_DATE] >= first) & (graded[CREATED_DATE] < last + pd.Timedelta(days=1))
    return graded[inside].reset_index(drop=True)


def monthly_figures(graded: pd.DataFrame) -> list[MonthFigures]:
    """AUC, precision, recall, flagged share and base rate per calendar month of creation (pure)."""
    months = []
    for month, group in graded.groupby(graded[CREATED_DATE].dt.to_period("M"), sort=True):
        labels = group[LABEL].to_numpy().astype(int)
        figures = realized_figures(labels, group["score"].to_numpy(), group["predicted_label"].to_numpy())
        months.append(
            MonthFigures(
                month=str(month),
                leads=len(group),
                base_rate=float(np.mean(labels)),
                auc=figures.auc,
                precision=figures.precision,
                recall=figures.recall,
                flagged_share=float(figures.flagged_share or 0.0),
            )
        )
    return months


def _log_replay(settings: Settings, report: ReplayReport) -> str:
    """The replay's figures, retrains and alarms as one run of `<experiment>-replay`, with its plot."""
    from lead_scoring.adapters.plots import write_replay_plot

    track = tracking(settings)
    experiment = track.store.experiment_id(f"{settings.experiment_name}-replay")
    run_id = str(
        track.store.client.create_run(experiment, run_name=f"replay {report.start} .. {report.end}").info.run_id
    )
    metrics: dict[str, float] = {
        "days": report.days,
        "alarm_days": len(report.alarms),
        "retrains": len(report.retrains),
        "promotions": sum(r.promoted for r in report.retrains),
    }
    for m in report.months:
        for name, value in m.row().items():
            if name != "month" and value is not None:
                metrics[f"{m.month.replace('-', '_')}_{name}"] = float(value)  # type: ignore[arg-type]
    params = {
        "from": report.start,
        "to": report.end,
        "base_rate": "as exported" if report.base_rate is None else report.base_rate,
    }
    track.store.log_values(run_id, params=params, metrics=metrics)
    track.store.log_table(run_id, [m.row() for m in report.months], "replay/months.json")
    retrains = [{"day": r.day, "version": r.version, "promoted": r.promoted, "reasons": "; ".join(r.reasons)}
                for r in report.retrains]  # fmt: skip
    if retrains:
        track.store.log_table(run_id, retrains, "replay/retrains.json")
    if report.alarms:
        track.store.log_table(
            run_id, [{"day": a.day, "message": a.message} for a in report.alarms], "replay/alarms.json"
        )
    with tempfile.TemporaryDirectory() as tmp:
        rows: list[dict[str, Any]] = [m.row() for m in report.months]
        write_replay_plot(rows, report.targets, Path(tmp) / "replay.png")
        track.store.log_folder(run_id, Path(tmp), "plots")
    track.store.client.set_terminated(run_id)
    return run_id


def _day(text: str, flag: str) -> pd.Timestamp:
    """An ISO day (YYYY-MM-DD) inside pandas' time range; no offsets, times or month-first dates."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        day = pd.Timestamp(date.fromisoformat(text))
    except ValueError:
        raise InvalidArgumentError(f"{flag} {text[:40]!r} is not a date (expected YYYY-MM-DD)") from None
    if not pd.Timestamp.min < day < pd.Timestamp.max:
        raise InvalidArgumentError(
            f"{flag} {text}: outside the days pandas can count "
            f"({pd.Timestamp.min:%Y-%m-%d} to {pd.Timestamp.max:%Y-%m-%d})"
        )
    return day
