"""The training pipeline: staging `model_input` -> a tracked MLflow run -> a registered version -> the gate.

One function per DAG task (``check_input_step``, ``train_step``, ``evaluate_step``, ``register_step``,
``promote_step``); ``run_training`` chains them for the CLI, so both paths run the same code.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lead_scoring import registry
from lead_scoring.business import bucket_table, gain_at, gain_table
from lead_scoring.errors import InputDataError, InsufficientDataError
from lead_scoring.policy import backtest_metrics, backtest_table
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, MODEL_INPUT
from lead_scoring.settings import Settings
from lead_scoring.staging import StagingDatabase
from lead_scoring.training import (
    Targets,
    TrainingResult,
    check_sufficiency,
    decide_promotion,
    evaluate,
    required_columns,
    train,
    training_run_name,
)

log = logging.getLogger(__name__)

StepCallback = Callable[[str], None]
METRICS = ("auc", "precision", "recall", "f1", "log_loss", "positive_rate", "threshold")
MIN_UNSEEN_FOR_COMPARISON = 200  # leads the champion never trained on, to compare it fairly


@dataclass
class TrainingSummary:
    run_id: str
    version: str
    metrics: dict
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    fingerprint: dict = field(default_factory=dict)
    policy: str = ""
    backtests: str = ""
    link: str = ""

    def lines(self) -> list[str]:
        m = self.metrics
        lines = [
            f"mlflow run       {self.run_id}",
            f"training leads   {self.fingerprint.get('rows')} created {self.fingerprint.get('created_from')} .. "
            f"{self.fingerprint.get('created_to')}",
            f"validation       auc {m['auc']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"f1 {m['f1']:.3f}  at threshold {m['threshold']:.3f} (newest leads, out of sample)",
            f"decision policy  {self.policy}",
            f"backtests        {self.backtests}",
            f"registered       version {self.version} (alias challenger)",
            f"decision         {'PROMOTED to champion' if self.promoted else 'not promoted'}",
        ]
        lines += [f"  - {reason}" for reason in self.reasons]
        return lines


def load_training_input(settings: Settings, until: str | None = None) -> pd.DataFrame:
    """`model_input` from staging, optionally only the leads created up to the end of day ``until``."""
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
        try:
            cutoff = pd.Timestamp(until).normalize() + pd.Timedelta(days=1)
        except ValueError:
            raise InputDataError(f"--until {until!r} is not a date (expected YYYY-MM-DD)") from None
        frame = frame[frame[CREATED_DATE] < cutoff]
    return frame.reset_index(drop=True)


def train_with_settings(settings: Settings, frame: pd.DataFrame) -> TrainingResult:
    """The pure training recipe with the knobs of ``settings`` (the CLI, the DAG and `backtest` share it)."""
    return train(
        frame,
        validation_share=settings.validation_share,
        target_recall=settings.target_recall,
        target_precision=settings.target_precision,
        recall_margin=settings.recall_margin,
        min_level_count=settings.min_level_count,
        backtest_months=settings.backtest_months,
        min_fold_leads=settings.min_training_leads,
        min_fold_conversions=settings.min_conversions,
        max_fold_leads=settings.backtest_max_leads,
    )


def check_input_step(settings: Settings, until: str | None = None, as_of: str | None = None) -> dict:
    """Right schema, enough leads of both classes and, when a limit is set, fresh enough."""
    frame = load_training_input(settings, until)
    check_sufficiency(frame, settings.min_training_leads, settings.min_conversions)
    newest = frame[CREATED_DATE].max()
    if settings.max_staging_age_days and as_of is not None:
        age = (pd.Timestamp(as_of).tz_localize(None) - newest).days
        if age > settings.max_staging_age_days:
            raise InsufficientDataError(
                f"the newest lead in {MODEL_INPUT} is from {newest:%Y-%m-%d}, {age} days before {as_of}: "
                f"stale (limit {settings.max_staging_age_days} days)"
            )
    return {"leads": len(frame), "conversions": int(frame[LABEL].sum()), "newest": str(newest)}


def train_step(
    settings: Settings, until: str | None = None, airflow_run: str | None = None, tags: dict[str, str] | None = None
) -> str:
    """Train, and log everything to a new MLflow run; returns its run id. ``tags``: extra run tags
    (e.g. the feedback loop's `retrain_reason`)."""
    import mlflow

    from lead_scoring.monitoring import build_reference_profile
    from lead_scoring.plots import write_backtest_plot
    from lead_scoring.pyfunc import LeadScoringModel, model_signature, pip_requirements

    if airflow_run and (done := registry.find_training_run(settings, airflow_run)) is not None:
        log.info("training run %s was already logged by %s: reusing it", done, airflow_run)
        return done
    frame = load_training_input(settings, until)
    check_sufficiency(frame, settings.min_training_leads, settings.min_conversions)
    result = train_with_settings(settings, frame)
    example = frame.drop(columns=[LABEL]).head(5)
    profile = build_reference_profile(frame, result.scorer.features, result.reference_scores, result.scorer.policy)
    experiment = registry.experiment_id(settings)
    run_tags = {**(tags or {}), **({"airflow_run": airflow_run} if airflow_run else {})}
    with mlflow.start_run(
        experiment_id=experiment, run_name=training_run_name(result.fingerprint), tags=run_tags
    ) as run:
        registry.log_training_dataset(settings, frame, result.fingerprint)
        mlflow.log_params({f"lgbm_{k}": v for k, v in result.params.items()})
        mlflow.log_params(
            {
                "validation_share": settings.validation_share,
                "recall_target": settings.target_recall,
                "recall_margin": settings.recall_margin,
                "min_level_count": settings.min_level_count,
                "trained_until": str(result.trained_until),
                "validation_start": str(result.validation_start),
                "until": until or "",
            }
        )
        mlflow.log_params({f"data_{k}": v for k, v in result.fingerprint.items()})
        mlflow.log_metrics({f"valid_{k}": result.metrics[k] for k in METRICS})
        policy = result.scorer.policy
        mlflow.log_params({**policy.as_params(), "backtest_months_wanted": settings.backtest_months})
        mlflow.set_tag("decision_policy", policy.describe())
        if result.policy_choice is not None:
            mlflow.log_metrics(backtest_metrics(result.policy_choice))
            mlflow.set_tag("policy_choice", result.policy_choice.reason)
            rows = backtest_table(result.policy_choice)
            mlflow.log_table(pd.DataFrame(rows), "backtest/months.json")
            with tempfile.TemporaryDirectory() as tmp:
                targets = {"auc": settings.target_auc, "precision": settings.target_precision}
                targets["recall"] = settings.target_recall
                mlflow.log_artifact(str(write_backtest_plot(rows, targets, Path(tmp) / "backtest.png")), "plots")
        else:
            log.warning("too little history to backtest a month: the validation rule decides the flags")
        mlflow.log_dict(profile, "monitoring/reference_profile.json")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "leads.csv"
            result.validation.to_csv(path, index=False)
            mlflow.log_artifact(str(path), "validation")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadScoringModel(result.scorer),
            signature=model_signature(frame),
            input_example=example,
            pip_requirements=pip_requirements(),
        )
        mlflow.set_tags({"model_uri": info.model_uri, "trained_until": str(result.trained_until)})
        run_id = run.info.run_id
    log.info("logged training run %s", run_id)
    return run_id


def evaluate_step(settings: Settings, run_id: str) -> dict:
    """Metrics and plots of a run's validation leads, logged back to the run."""
    from lead_scoring.plots import write_evaluation_plots, write_gain_plot

    mlflow_client = registry.client(settings)
    run = mlflow_client.get_run(run_id)
    threshold = run.data.metrics["valid_threshold"]
    validation = registry.load_validation(settings, run_id)
    metrics = evaluate(validation[LABEL].to_numpy(), validation["score"].to_numpy(), threshold)
    scorer_importance = _importance(settings, run)
    gain = gain_table(validation[LABEL], validation["score"])
    buckets = bucket_table(validation[LABEL], validation["score"], settings.hot_cutoff, settings.warm_cutoff)
    with tempfile.TemporaryDirectory() as tmp:
        write_evaluation_plots(validation[LABEL], validation["score"], threshold, scorer_importance, Path(tmp))
        write_gain_plot(gain, Path(tmp) / "cumulative_gain.png")
        mlflow_client.log_artifacts(run_id, tmp, "plots")
    # the sales view: "call the top X% -> share of applications reached", and each bucket's conversion
    mlflow_client.log_table(run_id, pd.DataFrame(gain), "sales/gain_validation.json")
    mlflow_client.log_table(run_id, pd.DataFrame(buckets), "sales/buckets_validation.json")
    mlflow_client.log_metric(run_id, "valid_gain_at_30pct", gain_at(validation[LABEL], validation["score"], 30))
    for key in METRICS:
        mlflow_client.log_metric(run_id, f"valid_{key}", float(metrics[key]))
    return {k: round(float(metrics[k]), 4) for k in METRICS}


def register_step(settings: Settings, run_id: str, airflow_run: str | None = None) -> str:
    """Register the run's model as a new version (alias challenger); a DAG rerun reuses its version."""
    if airflow_run:
        existing = registry.find_version_for_airflow_run(settings, airflow_run)
        if existing is not None:
            log.info("version %s was already registered by %s", existing.version, airflow_run)
            return str(existing.version)
    run = registry.client(settings).get_run(run_id)
    tags = {"trained_until": run.data.tags.get("trained_until", ""), "run_id": run_id}
    if airflow_run:
        tags["airflow_run"] = airflow_run
    return registry.register(settings, run_id, run.data.tags["model_uri"], tags)


def promote_step(settings: Settings, version: str, *, force: bool = False, reason: str | None = None) -> dict:
    """The gate: champion only when the version meets the targets and is not worse than the champion."""
    mlflow_client = registry.client(settings)
    candidate_version = mlflow_client.get_model_version(settings.model_name, str(version))
    run = mlflow_client.get_run(candidate_version.run_id)
    candidate = {k: run.data.metrics[f"valid_{k}"] for k in ("auc", "precision", "recall")}
    worst_month = None
    if "backtest_min_auc" in run.data.metrics:
        worst_month = {k: run.data.metrics[f"backtest_min_{k}"] for k in ("auc", "precision", "recall")}
        worst_month["months"] = run.data.metrics.get("backtest_months", 0)
    champion_metrics, note = _champion_on_same_leads(settings, candidate_version)
    targets = Targets(settings.target_auc, settings.target_precision, settings.target_recall)
    decision = decide_promotion(candidate, champion_metrics, targets, settings.promotion_tolerance, worst_month)
    reasons = decision.reasons + ([note] if note else [])
    promote = decision.promote or force
    if force and not decision.promote:
        reasons.append(f"FORCED by {registry.actor()}: {reason or 'no reason given'}")
    already = (current := registry.version_by_alias(settings, registry.CHAMPION)) is not None and str(
        current.version
    ) == str(version)
    registry.set_version_tags(
        settings,
        str(version),
        {
            "promotion_decision": "promoted" if promote else "rejected",
            "promotion_reasons": "; ".join(reasons),
            "decided_at": registry.now_utc(),
        },
    )
    if promote and not already:
        registry.move_champion(
            settings, str(version), reason=reason or "; ".join(decision.reasons), forced=force and not decision.promote
        )
    return {"version": str(version), "promoted": promote, "reasons": reasons}


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
    check_input_step(settings, until)
    notify("train")
    run_id = train_step(settings, until)
    notify("evaluate")
    metrics = evaluate_step(settings, run_id)
    notify("register")
    version = register_step(settings, run_id)
    notify("promote")
    decision = promote_step(settings, version, force=force, reason=reason)
    run = registry.client(settings).get_run(run_id)
    fingerprint = {k.removeprefix("data_"): v for k, v in run.data.params.items() if k.startswith("data_")}
    return TrainingSummary(
        run_id,
        version,
        metrics,
        decision["promoted"],
        decision["reasons"],
        fingerprint,
        policy=run.data.tags.get("decision_policy", ""),
        backtests=_backtest_line(run.data.metrics),
        link=registry.runs_url(registry.ui_base(settings), run.info.experiment_id),
    )


def _backtest_line(metrics: dict[str, float]) -> str:
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


def _champion_on_same_leads(settings: Settings, candidate_version) -> tuple[dict | None, str | None]:  # noqa: ANN001
    """Score the candidate's validation leads with the current champion (preferring leads it never saw)."""
    current = registry.version_by_alias(settings, registry.CHAMPION)
    if current is None or str(current.version) == str(candidate_version.version):
        return None, None
    validation = registry.load_validation(settings, candidate_version.run_id)
    champion = registry.load_scoring_model(settings, current.version)
    trained_until = pd.Timestamp(champion.tags.get("trained_until") or "1970-01-01")
    unseen = validation[validation[CREATED_DATE] > trained_until]
    leads, note = validation, None
    if len(unseen) >= MIN_UNSEEN_FOR_COMPARISON and unseen[LABEL].nunique() == 2:
        leads = unseen
        note = f"compared on {len(unseen)} validation leads newer than champion v{current.version}'s training data"
    else:
        note = f"champion v{current.version} saw some of these {len(validation)} validation leads in training"
    model_input = _model_input_for(settings, leads[LEAD_ID])
    scores = champion.scorer.predict_proba(model_input)
    labels = leads.set_index(LEAD_ID).loc[model_input[LEAD_ID], LABEL].to_numpy()
    return evaluate(labels, scores, champion.scorer.policy_cut(scores)), note


def _model_input_for(settings: Settings, lead_ids: pd.Series) -> pd.DataFrame:
    frame = load_training_input(settings)
    return frame[frame[LEAD_ID].isin(set(lead_ids.astype(str)))].reset_index(drop=True)


def _importance(settings: Settings, run) -> dict[str, float]:  # noqa: ANN001
    import mlflow

    registry.client(settings)
    model = mlflow.pyfunc.load_model(run.data.tags["model_uri"])
    booster = model.unwrap_python_model().scorer.booster.booster_
    return dict(zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True))
