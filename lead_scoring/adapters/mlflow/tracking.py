"""The MLflow edge: one :class:`Tracking` object per settings, holding the store and the three parts built on it.

This package (:mod:`lead_scoring.adapters.mlflow`) is the only one that imports mlflow (PyCaret's own
logging aside); an import-linter contract holds it. A caller names the part it uses, each one seam of MLflow:

- ``tracking.store`` (:mod:`~lead_scoring.adapters.mlflow.store`): the client, experiments, run values and artifacts;
- ``tracking.training`` (:mod:`~lead_scoring.adapters.mlflow.training_runs`): training runs and the model they log;
- ``tracking.monitoring`` (:mod:`~lead_scoring.adapters.mlflow.monitoring_runs`): scoring and performance runs;
- ``tracking.versions`` (:mod:`~lead_scoring.adapters.mlflow.versions`): the registry's versions, aliases and tags.

The parts share the one store (one ``MlflowClient``); none inherits from another, so a method lives
in the module of the part that a call names.
"""

from __future__ import annotations

import functools

from lead_scoring.adapters.mlflow.monitoring_runs import MonitoringRuns
from lead_scoring.adapters.mlflow.store import Store
from lead_scoring.adapters.mlflow.training_runs import TrainingRuns
from lead_scoring.adapters.mlflow.versions import ModelVersions
from lead_scoring.settings import Settings


class Tracking:
    """One MLflow client on the settings' tracking store, and the parts the pipelines use through it."""

    def __init__(self, settings: Settings) -> None:
        self.store = Store(settings)
        self.training = TrainingRuns(self.store)
        self.monitoring = MonitoringRuns(self.store)
        self.versions = ModelVersions(self.store)


@functools.lru_cache(maxsize=8)
def tracking(settings: Settings) -> Tracking:
    """The process's tracking object for these settings (one MLflow client per store)."""
    return Tracking(settings)
