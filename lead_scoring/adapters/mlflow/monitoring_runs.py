"""Monitoring and performance runs in MLflow: a scoring run's figures (`<experiment>-scoring`) and a
model version's realized weekly figures (`<experiment>-performance`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from lead_scoring.adapters.mlflow.store import _BATCH, Store, _escaped


class MonitoringRuns:
    """Runs that record how models do in operation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def log_scoring_run(
        self, run_key: str, run_name: str, metrics: Mapping[str, float | None], tags: Mapping[str, str]
    ) -> str:
        """A scoring run's monitoring figures (experiment `<experiment>-scoring`), one run per run key."""
        experiment_id = self.store.experiment_id(f"{self.store.settings.experiment_name}-scoring")
        existing = self.store.client.search_runs(
            [experiment_id], f"tags.run_key = '{_escaped(run_key)}'", max_results=1
        )
        run_id = (
            existing[0].info.run_id
            if existing
            else self.store.client.create_run(experiment_id, run_name=run_name, tags={"run_key": run_key}).info.run_id
        )
        for key, value in metrics.items():
            if value is not None:
                self.store.client.log_metric(run_id, key, float(value))
        for key, text in tags.items():
            self.store.client.set_tag(run_id, key, text)
        self.store.client.set_terminated(run_id)
        return str(run_id)

    def log_model_performance(
        self, version: str, rows: Sequence[Mapping[str, Any]], tables: Mapping[str, Sequence[Mapping[str, object]]]
    ) -> str:
        """A version's realized weekly figures (experiment `<experiment>-performance`), one run per version.

        Metrics are stepped by ISO week (step YYYYWW, timestamp the week's Monday); ``tables`` (artifact
        path -> rows, e.g. the live gain table) are logged beside them. Idempotent: the same figures
        leave the run as it is; changed figures replace it (the old run is deleted).
        """
        from mlflow.entities import Metric

        experiment_id = self.store.experiment_id(f"{self.store.settings.experiment_name}-performance")
        digest = hashlib.sha1(json.dumps([rows, tables], default=str, sort_keys=True).encode()).hexdigest()
        existing = self.store.client.search_runs(
            [experiment_id], f"tags.model_name = '{self.store.model_name}' and tags.model_version = '{version}'"
        )
        if existing and existing[0].data.tags.get("figures_digest") == digest:
            return str(existing[0].info.run_id)
        for run in existing:
            self.store.client.delete_run(run.info.run_id)
        run_id = self.store.client.create_run(
            experiment_id,
            run_name=f"{self.store.model_name} v{version}",
            tags={"model_name": self.store.model_name, "model_version": str(version), "figures_digest": digest},
        ).info.run_id
        metrics = []
        for row in rows:
            monday = pd.Timestamp(row["week_start"])
            iso = monday.isocalendar()
            step, stamp = iso.year * 100 + iso.week, int(monday.timestamp() * 1000)
            for key in ("leads_scored", "leads_labelled", "auc", "precision", "recall", "f1", "flagged_share"):
                value = row[key]
                if value is not None and not pd.isna(value):
                    metrics.append(Metric(key, float(value), stamp, step))
            metrics.append(Metric("below_target", float(row["status"] == "below_target"), stamp, step))
        for start in range(0, len(metrics), 10 * _BATCH):
            self.store.client.log_batch(run_id, metrics=metrics[start : start + 10 * _BATCH])
        for path, table in tables.items():
            self.store.log_table(run_id, table, path)
        self.store.client.set_terminated(run_id)
        return str(run_id)
