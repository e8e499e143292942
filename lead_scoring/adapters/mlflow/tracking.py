"""The MLflow edge: one :class:`Tracking` object per settings, made of the store and its three parts.

This package (:mod:`lead_scoring.adapters.mlflow`) is the only one that imports mlflow (PyCaret's own
logging aside); an import-linter contract holds it. Its parts, each one seam of MLflow:

- :mod:`~lead_scoring.adapters.mlflow.store`: the client, experiments, run values and artifacts;
- :mod:`~lead_scoring.adapters.mlflow.training_runs`: training runs and the model they log;
- :mod:`~lead_scoring.adapters.mlflow.monitoring_runs`: scoring and performance runs;
- :mod:`~lead_scoring.adapters.mlflow.versions`: the registry's versions, aliases and tags.
"""

from __future__ import annotations

import functools

from lead_scoring.adapters.mlflow.monitoring_runs import MonitoringRuns
from lead_scoring.adapters.mlflow.training_runs import TrainingRuns
from lead_scoring.adapters.mlflow.versions import ModelVersions
from lead_scoring.settings import Settings


class Tracking(TrainingRuns, MonitoringRuns, ModelVersions):
    """One MLflow client on the settings' tracking store, with every seam the pipelines use."""


@functools.lru_cache(maxsize=8)
def tracking(settings: Settings) -> Tracking:
    """The process's tracking object for these settings (one MLflow client per store)."""
    return Tracking(settings)
