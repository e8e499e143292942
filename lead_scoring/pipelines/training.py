"""The training pipeline: staging `model_input` -> a tracked MLflow run -> a registered version -> the gate.

One function per DAG task (``check_input_step``, ``train_step``, ``validation_report_step``,
``register_step``, ``promote_step``); ``run_training`` chains them for the CLI, so both paths run the
same code. What is logged is decided here; how, in :mod:`lead_scoring.adapters.mlflow.tracking`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lead_scoring.adapters.exports import write_spreadsheet_csv
from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.mlflow.registry import PROFILE_PATH
from lead_scoring.adapters.mlflow.store import runs_url, ui_base
from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.adapters.mlflow.training_runs import TrainingModel, TrainingRunRecord
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.core.business import bucket_table, gain_at, gain_table
from lead_scoring.core.days import parse_day
from lead_scoring.core.feedback import retrain_tags
from lead_scoring.core.fitting import check_sufficiency
from lead_scoring.core.online import OnlineScorer
from lead_scoring.core.policy import backtest_metrics, backtest_table
from lead_scoring.core.training import TrainingResult, required_columns, train, training_run_name
from lead_scoring.errors import InputDataError, InsufficientDataError
from lead_scoring.pipelines.promotion import COMPARED_WITH, comparison_cutoff
from lead_scoring.pipelines.promotion import promote_step as promote_step  # the DAG's promote task calls it here
from lead_scoring.pipelines.steps import StepCallback
from lead_scoring.schema import CREATED_DATE, LABEL, MODEL_INPUT
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

METRICS = ("auc", "precision", "recall", "f1", "log_loss", "positive_rate", "threshold")
IMPORTANCE_PATH = "features/importance_gain.json"  # the booster's gain per feature, for the importance plot


@dataclass
class TrainingSummary:
    run_id: str
    version: str
    metrics: dict[str, Any]
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    policy: str = ""
    backtests: str = ""
    link: str = ""
    recipe: str = ""  # the chosen recipe and why
    recipes: list[str] = field(default_factory=list)  # each candidate's backtest AUCs, one line each


def load_training_input(settings: Settings, until: str | None = None) -> pd.DataFrame:
    """`model_input` from staging, optionally only the leads created up to the end of day ``until``."""
    if until:
        parse_day(until, "--until")  # before the table is read
    db = StagingDatabase(settings.db_url)
    try:
        frame = db.read_table(MODEL_INPUT)
    finally:
        db.dispose()
    missing = [col for col in required_columns() if col not in frame.columns]
    if missing:
        raise InputDataError(
            f"staging table {MODEL_INPUT} lacks column(s) {', '.join(missing)}: rerun `lead-scoring prepare`"
        )
    if until:
        cutoff = parse_day(until, "--until") + pd.Timedelta(days=1)
        frame = frame[frame[CREATED_DATE] < cutoff]
    return frame.reset_index(drop=True)


def train_with_settings(
    settings: Settings, frame: pd.DataFrame, compare_cutoff: pd.Timestamp | None = None
) -> TrainingResult:
    """The pure training recipe with the knobs of ``settings`` (the CLI, the DAG and `backtest` share it)."""
    return train(frame, settings.training, compare_cutoff=compare_cutoff)


@dataclass(frozen=True)
class InputCheck:
    """What the check-input task found in `model_input` (its XCom, as a dict)."""

    leads: int
    conversions: int
    newest: str


def check_input_step(
    settings: Settings, until: str | None = None, as_of: str | None = None, frame: pd.DataFrame | None = None
) -> InputCheck:
    """Right schema, enough leads of both classes and, when a limit is set, fresh enough. ``frame``:
    the training input already read (``run_training`` reads it once for every step)."""
    frame = load_training_input(settings, until) if frame is None else frame
    check_sufficiency(frame, settings.min_training_leads, settings.min_conversions)
    newest = frame[CREATED_DATE].max()
    if settings.max_staging_age_days and as_of is not None:
        age = (pd.Timestamp(as_of).tz_localize(None) - newest).days
        if age > settings.max_staging_age_days:
            raise InsufficientDataError(
                f"the newest lead in {MODEL_INPUT} is from {newest:%Y-%m-%d}, {age} days before {as_of}: "
                f"stale (limit {settings.max_staging_age_days} days)"
            )
    return InputCheck(leads=len(frame), conversions=int(frame[LABEL].sum()), newest=str(newest))


def train_step(
    settings: Settings,
    until: str | None = None,
    airflow_run: str | None = None,
    tags: dict[str, str] | None = None,
    asset_events: Mapping[object, Iterable[object]] | None = None,
    frame: pd.DataFrame | None = None,
) -> str:
    """Train, and log everything to a new MLflow run; returns its run id. ``tags``: extra run tags;
    ``asset_events``: the DAG run's triggering asset events, whose `retrain_reason` (the feedback
    loop's) becomes a tag too; ``frame``: the training input already read."""
    from lead_scoring.core.monitoring import build_reference_profile

    track = tracking(settings)
    if airflow_run and (done := track.training.find_training_run(airflow_run)) is not None:
        log.info("training run %s was already logged by %s: reusing it", done, airflow_run)
        return done
    frame = load_training_input(settings, until) if frame is None else frame
    check_sufficiency(frame, settings.min_training_leads, settings.min_conversions)
    champion = comparison_cutoff(settings)
    result = train_with_settings(settings, frame, champion[1] if champion else None)
    profile = build_reference_profile(frame, result.scorer.features, result.reference_scores, result.policy)
    run_tags = {**retrain_tags(asset_events), **(tags or {}), **({"airflow_run": airflow_run} if airflow_run else {})}
    if champion is not None and result.comparison is not None:  # the promote step compares on these leads
        run_tags.update({COMPARED_WITH: champion[0], "compared_cutoff": str(champion[1])})
    online = OnlineScorer(result.scorer, load_mappings(settings), settings.hot_cutoff, settings.warm_cutoff)
    model = TrainingModel(
        result.scorer, frame, result.fingerprint, settings.redacted_db_url(), MODEL_INPUT, LABEL, online
    )
    with tempfile.TemporaryDirectory() as tmp:
        record = training_run_record(settings, result, until, profile, Path(tmp))
        run_id = track.training.log_training_run(record, model, run_tags)
    log.info("logged training run %s", run_id)
    return run_id


def training_run_record(
    settings: Settings, result: TrainingResult, until: str | None, profile: dict[str, Any], tmp: Path
) -> TrainingRunRecord:
    """What a training run logs besides its model: parameters, a data fingerprint, the validation and
    backtest metrics, the decision policy, the backtest table and plot, the drift profile, the
    booster's gain per feature and the validation leads (files written under ``tmp``)."""
    from lead_scoring.adapters.plots import write_backtest_plot

    policy = result.scorer.policy
    params: dict[str, object] = {
        **{f"lgbm_{k}": v for k, v in result.params.items()},
        "validation_share": settings.validation_share,
        "recall_target": settings.target_recall,
        "recall_margin": settings.recall_margin,
        "min_level_count": settings.min_level_count,
        "trained_until": str(result.trained_until),
        "validation_start": str(result.validation_start),
        "until": until or "",
        **{f"data_{k}": v for k, v in result.fingerprint.items()},
        **(policy.as_params() if policy is not None else {}),
        "backtest_months_wanted": settings.backtest_months,
        **result.recipe.as_params(),
    }
    metrics = {f"valid_{k}": result.metrics[k] for k in METRICS}
    tags = {
        "decision_policy": policy.describe() if policy is not None else "",
        "trained_until": str(result.trained_until),
    }
    tables: dict[str, list[dict[str, object]]] = {}
    files: list[tuple[Path, str]] = []
    if result.policy_choice is not None:
        metrics.update(backtest_metrics(result.policy_choice))
        tags["policy_choice"] = result.policy_choice.reason
        rows = backtest_table(result.policy_choice)
        tables["backtest/months.json"] = rows
        targets = asdict(settings.targets)
        files.append((write_backtest_plot(rows, targets, tmp / "backtest.png"), "plots"))
    else:
        log.warning("too little history to backtest a month: the validation rule decides the flags")
    if result.recipe_choice is not None:  # every candidate's figure in every backtest month
        tags["recipe_choice"] = result.recipe_choice.reason
        tables["backtest/recipes.json"] = result.recipe_choice.table()
        for month in result.recipe_choice.months:
            name = month.recipe.replace("+", "_").replace(", ", "_").replace(" ", "_")
            metrics[f"recipe_{name}_{month.month.replace('-', '_')}_auc"] = month.auc
    validation = tmp / "leads.csv"  # artifacts a person downloads and opens: spreadsheet-safe too
    write_spreadsheet_csv(result.validation, validation)
    files.append((validation, "validation"))
    if result.comparison is not None:
        (tmp / "promotion").mkdir()
        write_spreadsheet_csv(result.comparison, tmp / "promotion" / "leads.csv")
        files.append((tmp / "promotion" / "leads.csv", "promotion"))
    return TrainingRunRecord(
        run_name=training_run_name(result.fingerprint),
        params=params,
        metrics=metrics,
        tags=tags,
        tables=tables,
        documents={PROFILE_PATH: profile, IMPORTANCE_PATH: result.scorer.importance()},
        files=files,
    )


def validation_report_step(settings: Settings, run_id: str) -> dict[str, float]:
    """The validation leads' plots and sales view (gain by top X%, bucket conversion), logged to the
    training run; returns the run's validation metrics."""
    from lead_scoring.adapters.plots import write_evaluation_plots, write_gain_plot

    track = tracking(settings)
    run = track.store.run(run_id)
    threshold = run.metrics["valid_threshold"]
    validation = registry.load_validation(settings, run_id)
    labels, scores = validation[LABEL], validation["score"]
    importance = track.store.load_document(run_id, IMPORTANCE_PATH)
    gain = gain_table(labels, scores)
    buckets = bucket_table(labels, scores, settings.hot_cutoff, settings.warm_cutoff)
    with tempfile.TemporaryDirectory() as tmp:
        write_evaluation_plots(labels, scores, threshold, importance, Path(tmp))
        write_gain_plot(gain, Path(tmp) / "cumulative_gain.png")
        track.store.log_folder(run_id, Path(tmp), "plots")
    # the sales view: "call the top X% -> share of applications reached", and each bucket's conversion
    track.store.log_table(run_id, gain, "sales/gain_validation.json")
    track.store.log_table(run_id, buckets, "sales/buckets_validation.json")
    track.store.log_values(run_id, metrics={"valid_gain_at_30pct": gain_at(labels, scores, 30)})
    return {k: round(float(run.metrics[f"valid_{k}"]), 4) for k in METRICS}


def register_step(settings: Settings, run_id: str, airflow_run: str | None = None) -> str:
    """Register the run's model as a new version (alias challenger); a DAG rerun reuses its version."""
    if airflow_run:
        existing = registry.find_version_for_airflow_run(settings, airflow_run)
        if existing is not None:
            log.info("version %s was already registered by %s", existing.version, airflow_run)
            return existing.version
    run = tracking(settings).store.run(run_id)
    tags = {"trained_until": run.tags.get("trained_until", ""), "run_id": run_id}
    if airflow_run:
        tags["airflow_run"] = airflow_run
    return registry.register(settings, run.tags["model_uri"], tags)


def run_training(
    settings: Settings,
    until: str | None = None,
    *,
    force: bool = False,
    reason: str | None = None,
    on_step: StepCallback | None = None,
) -> TrainingSummary:
    """The whole training pipeline in one process, as the DAG runs it task by task."""
    notify = on_step or (lambda _name: None)
    notify("check input")
    frame = load_training_input(settings, until)  # once: a million leads take seconds to read
    check_input_step(settings, until, frame=frame)
    notify("train")
    run_id = train_step(settings, until, frame=frame)
    notify("report")
    metrics = validation_report_step(settings, run_id)
    notify("register")
    version = register_step(settings, run_id)
    notify("promote")
    decision = promote_step(settings, version, force=force, reason=reason)
    run = tracking(settings).store.run(run_id)
    fingerprint = {k.removeprefix("data_"): v for k, v in run.params.items() if k.startswith("data_")}
    return TrainingSummary(
        run_id,
        version,
        metrics,
        decision.promoted,
        list(decision.reasons),
        fingerprint,
        policy=run.tags.get("decision_policy", ""),
        backtests=_backtest_line(run.metrics),
        recipe=run.tags.get("recipe_choice", ""),
        recipes=_recipe_lines(run.metrics),
        link=runs_url(ui_base(settings.tracking_uri), run.experiment_id),
    )


def _backtest_line(metrics: Mapping[str, float]) -> str:
    """Each backtest month's precision and recall under the chosen policy, in one line."""
    months = sorted({k[len("backtest_") : len("backtest_YYYY_MM")] for k in metrics if k.endswith("_flagged_share")})
    if not months:
        return "none (too little history before the newest month)"
    parts = []
    for month in months:
        m = {name: metrics[f"backtest_{month}_{name}"] for name in ("auc", "precision", "recall", "flagged_share")}
        parts.append(
            f"{month.replace('_', '-')} auc {m['auc']:.3f} precision {m['precision']:.3f} "
            f"recall {m['recall']:.3f} flagged {m['flagged_share']:.0%}"
        )
    return "; ".join(parts)


def _recipe_lines(metrics: Mapping[str, float]) -> list[str]:
    """Each candidate recipe's AUC per backtest month (the run's ``recipe_<name>_<YYYY_MM>_auc``)."""
    by_recipe: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith("recipe_") and key.endswith("_auc"):
            name, month = key[len("recipe_") : -len("_YYYY_MM_auc")], key[-len("YYYY_MM_auc") : -len("_auc")]
            by_recipe.setdefault(name, {})[month.replace("_", "-")] = value
    return [
        f"{name:<32}"
        + "  ".join(f"{month} {auc:.4f}" for month, auc in sorted(months.items()))
        + f"  mean {sum(months.values()) / len(months):.4f}"
        for name, months in sorted(by_recipe.items())
    ]
