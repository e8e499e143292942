"""`lead-scoring evaluate`: the champion graded on labelled leads it never saw.

``out_of_time_report`` puts the champion and the reference side by side on labelled leads that come
after the ones they learned from: the evidence docs/model.md's table is made of. ``predictions_report``
grades the stored `predictions` of a version against labels that arrived later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.core.days import parse_day
from lead_scoring.core.feedback import out_of_sample
from lead_scoring.core.fitting import classification_metrics
from lead_scoring.errors import InsufficientDataError
from lead_scoring.lab.reference import reference_scores
from lead_scoring.schema import CREATED_DATE, LABEL, PREDICTIONS
from lead_scoring.settings import Settings


@dataclass
class OutOfTimeReport:
    since: str
    until: str
    leads: int
    champion_version: str
    trained_until: str
    champion: dict[str, Any]
    reference: dict[str, Any]
    targets: dict[str, Any]


def out_of_time_report(settings: Settings, since: str, until: str | None = None) -> OutOfTimeReport:
    """Score labelled leads created in [since, until] with the champion; the reference learns from the rest."""
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.pipelines.training import load_training_input

    start = parse_day(since, "--since")
    last = parse_day(until, "--until") if until else None
    frame = load_training_input(settings)
    end = last + pd.Timedelta(days=1) if last is not None else frame[CREATED_DATE].max() + pd.Timedelta(seconds=1)
    champion = registry.load_scoring_model(settings)
    learned = pd.to_datetime(champion.tags.get("trained_until") or None, errors="coerce")
    if not pd.isna(learned) and learned >= start:  # never graded on leads it was trained on
        start = pd.Timestamp(learned) + pd.Timedelta(microseconds=1)
    test = frame[(frame[CREATED_DATE] >= start) & (frame[CREATED_DATE] < end)]
    train = frame[frame[CREATED_DATE] < start]
    if test.empty or test[LABEL].nunique() < 2 or train.empty:
        after = f" (v{champion.version} was trained on the leads up to {learned})" if not pd.isna(learned) else ""
        raise InsufficientDataError(
            f"need labelled leads of both classes from {since} on{after}, and leads before them"
        )
    scores = champion.scorer.predict_proba(test)
    return OutOfTimeReport(
        since=str(start.date()),
        until=str((end - pd.Timedelta(seconds=1)).date()),
        leads=len(test),
        champion_version=champion.version,
        trained_until=champion.tags.get("trained_until", "?"),
        champion=classification_metrics(test[LABEL], scores, champion.scorer.policy_cut(scores)),
        reference=classification_metrics(test[LABEL], reference_scores(train, test), 0.5),
        targets=asdict(settings.targets),
    )


@dataclass(frozen=True)
class PredictionsReport:
    """The stored `predictions` of a model version graded against labels that arrived later."""

    source: str
    model_version: str
    leads: int
    metrics: dict[str, Any]


def predictions_report(settings: Settings, labels_path: str, version: str | None = None) -> PredictionsReport:
    """How the stored `predictions` of a model version fare against labels that arrived later."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.pipelines.data import read_and_validate

    labelled, report = read_and_validate(labels_path)
    if not report.has_label:
        raise InsufficientDataError(f"{labels_path}: no app_complete_flag column to compare with")
    if version is None:
        champion = registry.version_by_alias(settings, registry.CHAMPION)
        if champion is None:
            raise InsufficientDataError("no champion: name the model version with --version")
        version = str(champion.version)
    db = StagingDatabase(settings.db_url)
    try:
        predictions = db.read_table(PREDICTIONS)
    finally:
        db.dispose()
    predictions = predictions[predictions["model_version"].astype(str) == str(version)]
    joined = predictions.drop(columns=[CREATED_DATE], errors="ignore").merge(
        labelled[["lead_id", LABEL, CREATED_DATE]], on="lead_id", how="inner"
    )
    joined = out_of_sample(joined, registry.training_cutoffs(settings))  # never graded on leads it learned
    if joined.empty or joined[LABEL].nunique() < 2:
        raise InsufficientDataError(f"no scored leads of model v{version} match labelled leads of both classes")
    y, predicted = joined[LABEL].to_numpy(), joined["predicted_label"].to_numpy()
    metrics = {  # graded as stored: the scores, and the 0/1 labels its decision policy set
        "auc": float(roc_auc_score(y, joined["score"])),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "positive_rate": float(predicted.mean()),
    }
    return PredictionsReport(str(labels_path), str(version), len(joined), metrics)
