"""Model selection with PyCaret: candidate learners compared on time-ordered folds, each logged to MLflow.

The evidence for the learner the training pipeline uses; not on the daily path.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pandas as pd

from lead_scoring.adapters.mlflow.store import RunValues
from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.core.features import LeadFeatures
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_LEARNERS = ("lightgbm", "lr", "rf", "et", "dt")
METRICS = {"AUC": "auc", "Prec.": "precision", "Recall": "recall", "F1": "f1", "Accuracy": "accuracy"}


@dataclass
class SelectionResult:
    parent_run_id: str
    table: pd.DataFrame  # one row per learner, best AUC first


def compare_learners(
    settings: Settings, model_input: pd.DataFrame, learners: tuple[str, ...] = DEFAULT_LEARNERS, folds: int = 3
) -> SelectionResult:
    """PyCaret's compare_models on the project's features, folds in time order; one MLflow run per learner."""
    # PyCaret opens its log file when first imported, in the working directory unless told otherwise
    os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", str(settings.home / "pycaret.log"))
    from pycaret.classification import ClassificationExperiment

    ordered = model_input.sort_values([CREATED_DATE, LEAD_ID], kind="stable").reset_index(drop=True)
    features = LeadFeatures(min_count=settings.min_level_count)
    data = features.fit_transform(ordered)
    for col in data.select_dtypes("category").columns:
        data[col] = data[col].astype(str)  # PyCaret encodes text categoricals itself
    data[LABEL] = ordered[LABEL].to_numpy()

    experiment = ClassificationExperiment()
    experiment.setup(
        data=data,
        target=LABEL,
        train_size=0.8,
        data_split_shuffle=False,  # the newest 20% is PyCaret's hold-out, never a random draw
        data_split_stratify=False,  # stratifying would need a shuffle
        fold_strategy="timeseries",
        fold_shuffle=False,
        fold=folds,
        session_id=42,
        n_jobs=2,
        verbose=False,
        html=False,
        log_experiment=False,  # logged below, one run per learner, through lead_scoring.adapters.mlflow.tracking
        system_log=False,  # no logs.log dropped in the working directory
    )
    experiment.compare_models(include=list(learners), sort="AUC", n_select=len(learners), verbose=False)
    table = experiment.pull().reset_index(names="learner")

    children = [
        RunValues(
            name=str(row["Model"]),
            params={"learner": row["learner"]},
            metrics={f"cv_{name}": float(row[column]) for column, name in METRICS.items()},
        )
        for _, row in table.iterrows()
    ]
    params = {"learners": ",".join(learners), "folds": folds, "fold_strategy": "timeseries", "rows": len(data)}
    parent = tracking(settings).training.log_selection(f"{settings.experiment_name}-selection", params, children)
    return SelectionResult(parent_run_id=parent, table=table)
