"""Training runs in MLflow: the run with its params, metrics, tables and model, found again on a retry,
and PyCaret's learner comparison as nested runs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lead_scoring.adapters.mlflow.store import PARENT_RUN_TAG, RunValues, Store, _escaped

if TYPE_CHECKING:
    from lead_scoring.core.model import LeadScorer
    from lead_scoring.core.online import OnlineScorer

SCHEMA_SAMPLE = 10_000  # leads a training dataset's schema is inferred from


@dataclass(frozen=True)
class TrainingRunRecord:
    """Everything a training run logs besides its model, as plain data: the pipeline decides what,
    this module how."""

    run_name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    tables: Mapping[str, Sequence[Mapping[str, object]]] = field(default_factory=dict)  # artifact file -> rows
    documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # artifact file -> JSON document
    files: Sequence[tuple[Path, str]] = ()  # (local file, artifact folder)


@dataclass(frozen=True)
class TrainingModel:
    """The model a training run logs, with the training leads it is logged with."""

    scorer: LeadScorer
    training_leads: pd.DataFrame  # logged as the run's dataset; the signature is taken from it
    fingerprint: Mapping[str, object]  # the dataset's name and digest
    source_url: str  # the staging database, password masked
    source_table: str
    target: str
    online: OnlineScorer  # the scorer with the mappings and bucket cut-offs: what the served model pickles


class TrainingRuns:
    """The training experiment's runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find_training_run(self, airflow_run: str) -> str | None:
        """The finished training run (with its model logged) a DAG run already made, so a retry reuses it."""
        found = self.store.client.get_experiment_by_name(self.store.settings.experiment_name)
        if found is None:
            return None
        found_runs = self.store.client.search_runs(
            [found.experiment_id],
            f"tags.airflow_run = '{_escaped(airflow_run)}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        )
        logged = [run for run in found_runs if run.data.tags.get("model_uri")]
        return str(logged[0].info.run_id) if logged else None

    def log_training_run(self, record: TrainingRunRecord, model: TrainingModel, tags: Mapping[str, str]) -> str:
        """A new run in the training experiment with everything of ``record``, then the model; returns its id.

        The run is FINISHED, with its ``model_uri`` tag, only when everything is logged (a retry of
        the DAG task looks for exactly that); a failure marks it FAILED.
        """
        run_id = self.store.client.create_run(
            self.store.experiment_id(), run_name=record.run_name, tags=dict(tags)
        ).info.run_id
        try:
            self.store.log_values(run_id, params=record.params, metrics=record.metrics, tags=record.tags)
            for path, rows in record.tables.items():
                self.store.client.log_table(run_id, pd.DataFrame(list(rows)), path)
            for path, document in record.documents.items():
                self.store.client.log_dict(run_id, dict(document), path)
            for local, folder in record.files:
                self.store.client.log_artifact(run_id, str(local), folder)
            self._log_model(run_id, model)
        except BaseException:
            self.store.client.set_terminated(run_id, "FAILED")
            raise
        return str(run_id)

    def _log_model(self, run_id: str, model: TrainingModel) -> None:
        """The training leads as the run's dataset, the raw-lead pyfunc model with its signature, the package
        as its code and the run id in its config (fluent-only), and the ``model_uri`` tag; the run ends FINISHED."""
        import mlflow

        from lead_scoring.adapters.mlflow import pyfunc

        with self.store.fluent(), mlflow.start_run(run_id=run_id):
            mlflow.log_input(self._training_dataset(model), context="training")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=pyfunc.RawLeadScoringModel(model.online),
                signature=pyfunc.raw_lead_signature(),
                input_example=pd.DataFrame([pyfunc.RAW_LEAD_EXAMPLE]),
                pip_requirements=pyfunc.pip_requirements(),
                code_paths=[pyfunc.package_code_path()],
                model_config={pyfunc.RUN_ID_CONFIG: run_id},
            )
            self.store.client.set_tag(run_id, "model_uri", info.model_uri)

    def _training_dataset(self, model: TrainingModel) -> Any:
        """The training leads as an MLflow dataset (the runs table's Dataset column): named by their
        newest lead, sourced from the staging table, digested by the content hash that the run's
        ``data_content_sha256`` param also carries."""
        import mlflow
        from mlflow.data.pandas_dataset import from_pandas

        newest = str(model.fingerprint.get("created_to", ""))[:10]
        dataset = from_pandas(
            model.training_leads,
            source=_staging_table_source(model.source_url, model.source_table),
            targets=model.target,
            name=f"{model.source_table} to {newest}",
            digest=str(model.fingerprint.get("content_sha256", "")) or None,
        )
        # MLflow infers a dataset's schema by reading every cell: 65 s of a million-lead training run.
        # The schema follows the columns' types, which a sample has too; ``schema`` is a cached
        # property, so it is given from the sample before the dataset is logged.
        with warnings.catch_warnings():  # its hint about integer columns is for model signatures, not datasets
            warnings.simplefilter("ignore", UserWarning)
            dataset.__dict__["schema"] = mlflow.models.infer_signature(model.training_leads.head(SCHEMA_SAMPLE)).inputs
        return dataset

    def log_selection(self, experiment: str, params: Mapping[str, object], children: Sequence[RunValues]) -> str:
        """A parent run with one nested run per candidate (PyCaret's learner comparison); returns the parent's id."""
        experiment_id = self.store.experiment_id(experiment)
        parent = self.store.client.create_run(experiment_id, run_name="compare_models").info.run_id
        self.store.log_values(parent, params=params)
        for child in children:
            run_id = self.store.client.create_run(
                experiment_id, run_name=child.name, tags={PARENT_RUN_TAG: parent}
            ).info.run_id
            self.store.log_values(run_id, params=child.params, metrics=child.metrics)
            self.store.client.set_terminated(run_id)
        self.store.client.set_terminated(parent)
        return str(parent)


def _staging_table_source(url: str, table: str) -> Any:
    """A table of the staging database as an MLflow dataset source (MLflow resolves no database URL itself)."""
    from mlflow.data.dataset_source import DatasetSource

    class StagingTableSource(DatasetSource):
        def __init__(self, url: str, table: str) -> None:
            self.url, self.table = url, table

        @staticmethod
        def _get_source_type() -> str:
            return "staging_table"

        def load(self, **_kwargs: object) -> None:
            raise NotImplementedError("read the table with lead_scoring.adapters.staging.StagingDatabase")

        @staticmethod
        def _can_resolve(raw_source: object) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: object) -> StagingTableSource:
            raise NotImplementedError

        def to_dict(self) -> dict[str, str]:
            return {"url": f"{self.url}#{self.table}", "table": self.table}

        @classmethod
        def from_dict(cls, source_dict: dict[str, str]) -> StagingTableSource:
            return cls(str(source_dict["url"]).split("#", 1)[0], source_dict["table"])

    return StagingTableSource(url, table)
