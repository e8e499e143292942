"""The MLflow edge: one client on the settings' tracking store and model registry.

This module and :mod:`lead_scoring.pyfunc` are the only ones that import mlflow (PyCaret's own
logging aside); an import-linter contract holds it. Everything goes through the one
``MlflowClient`` a :class:`Tracking` holds, built with explicit URIs, so no MLflow global and no
environment variable changes. What crosses out of here is plain data (:class:`RunFacts`,
:class:`VersionFacts`, dicts, frames), never an MLflow entity.

Two operations exist only in MLflow's fluent API, which reads the process-wide tracking URI:
logging a pyfunc model (with the run's dataset input) and registering a version from a logged
model (MLflow's SQL registry store looks the logged model up through the global URI, see its
``create_model_version``). :meth:`Tracking._fluent` points the fluent API at this store for
those calls only and puts back exactly what was there before, environment included.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lead_scoring.settings import Settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from lead_scoring.model import LeadScorer

log = logging.getLogger(__name__)

SCHEMA_SAMPLE = 10_000  # leads a training dataset's schema is inferred from
# MLflow 3.17's UI shows an experiment's runs (not its GenAI traces view) for this kind, and a link
# with this query parameter opens the runs view whatever the kind
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
RUNS_VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://localhost:5000"
PARENT_RUN_TAG = "mlflow.parentRunId"
_BATCH = 100  # params or tags per log_batch call (MLflow's limit); metrics allow 1,000
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class RunFacts:
    """What the pipelines read back from a tracking run."""

    run_id: str
    experiment_id: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class VersionFacts:
    """A registered model version as the pipelines need it."""

    version: str
    run_id: str
    tags: Mapping[str, str]


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


def ui_base(tracking_uri: str) -> str:
    """Where a person opens the MLflow UI: the tracking server itself, else `make mlflow`'s address."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return LOCAL_UI


def runs_url(base: str, experiment: str) -> str:
    """The MLflow UI's runs table of an experiment (its hash route, forced to the model-training view)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment}/runs?{RUNS_VIEW}"


@functools.lru_cache(maxsize=8)
def tracking(settings: Settings) -> Tracking:
    """The process's tracking object for these settings (one MLflow client per store)."""
    return Tracking(settings)


class Tracking:
    """One MLflow client on the settings' tracking store, which is also the model registry."""

    def __init__(self, settings: Settings) -> None:
        from mlflow import MlflowClient

        self.settings = settings
        self.uri = settings.tracking_uri
        self.model_name = settings.model_name
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # -- experiments and links -------------------------------------------------------------------

    def experiment_id(self, name: str | None = None) -> str:
        """The experiment's id, created on first use with its artifacts under LEAD_SCORING_HOME/mlruns.

        Tagged as model development, so the MLflow UI opens it on its runs rather than its GenAI view
        (traces, judges); an experiment created before the tag existed gets it on its next use.
        """
        name = name or self.settings.experiment_name
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            return str(found.experiment_id)
        location = None
        if not self.uri.startswith(("http://", "https://", "databricks")):
            self.settings.artifact_root.mkdir(parents=True, exist_ok=True)
            location = self.settings.artifact_root.resolve().as_uri()
        return str(
            self.client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        )

    def experiment_link(self) -> str:
        """The runs view of the training experiment when it exists (else the UI's front page); never creates it."""
        found = self.client.get_experiment_by_name(self.settings.experiment_name)
        base = ui_base(self.uri)
        return runs_url(base, found.experiment_id) if found is not None else base

    # -- runs ------------------------------------------------------------------------------------

    def run(self, run_id: str) -> RunFacts:
        run = self.client.get_run(run_id)
        return RunFacts(
            run_id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags=dict(run.data.tags),
        )

    def find_training_run(self, airflow_run: str) -> str | None:
        """The finished training run (with its model logged) a DAG run already made, so a retry reuses it."""
        found = self.client.get_experiment_by_name(self.settings.experiment_name)
        if found is None:
            return None
        runs = self.client.search_runs(
            [found.experiment_id],
            f"tags.airflow_run = '{_escaped(airflow_run)}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        )
        runs = [run for run in runs if run.data.tags.get("model_uri")]
        return str(runs[0].info.run_id) if runs else None

    def log_training_run(self, record: TrainingRunRecord, model: TrainingModel, tags: Mapping[str, str]) -> str:
        """A new run in the training experiment with everything of ``record``, then the model; returns its id.

        The run is FINISHED, with its ``model_uri`` tag, only when everything is logged (a retry of
        the DAG task looks for exactly that); a failure marks it FAILED.
        """
        run_id = self.client.create_run(self.experiment_id(), run_name=record.run_name, tags=dict(tags)).info.run_id
        try:
            self.log_values(run_id, params=record.params, metrics=record.metrics, tags=record.tags)
            for path, rows in record.tables.items():
                self.client.log_table(run_id, pd.DataFrame(list(rows)), path)
            for path, document in record.documents.items():
                self.client.log_dict(run_id, dict(document), path)
            for local, folder in record.files:
                self.client.log_artifact(run_id, str(local), folder)
            self._log_model(run_id, model)
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        return str(run_id)

    def _log_model(self, run_id: str, model: TrainingModel) -> None:
        """The training leads as the run's dataset, the pyfunc model with its signature (fluent-only), and
        the ``model_uri`` tag; the run ends FINISHED."""
        import mlflow

        from lead_scoring.pyfunc import LeadScoringModel, model_signature, pip_requirements

        leads = model.training_leads
        example = leads.drop(columns=[model.target]).head(5)
        with self._fluent(), mlflow.start_run(run_id=run_id):
            mlflow.log_input(self._training_dataset(model), context="training")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=LeadScoringModel(model.scorer),
                signature=model_signature(leads),
                input_example=example,
                pip_requirements=pip_requirements(),
            )
            self.client.set_tag(run_id, "model_uri", info.model_uri)

    def _training_dataset(self, model: TrainingModel) -> Any:
        """The training leads as an MLflow dataset (the runs table's Dataset column): named by their
        newest lead, sourced from the staging table, digested by the content hash that the run's
        ``data_content_sha256`` param also carries."""
        import mlflow

        newest = str(model.fingerprint.get("created_to", ""))[:10]
        dataset = mlflow.data.from_pandas(
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

    def log_values(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> None:
        """Params, metrics (step 0, now) and tags of a run, in as few calls as MLflow allows."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        param_list = [Param(key, str(value)) for key, value in (params or {}).items()]
        metric_list = [Metric(key, float(value), now, 0) for key, value in (metrics or {}).items()]
        tag_list = [RunTag(key, str(value)) for key, value in (tags or {}).items()]
        for start in range(0, len(param_list), _BATCH):
            self.client.log_batch(run_id, params=param_list[start : start + _BATCH])
        for start in range(0, len(metric_list), 10 * _BATCH):
            self.client.log_batch(run_id, metrics=metric_list[start : start + 10 * _BATCH])
        for start in range(0, len(tag_list), _BATCH):
            self.client.log_batch(run_id, tags=tag_list[start : start + _BATCH])

    def log_table(self, run_id: str, rows: Sequence[Mapping[str, object]], path: str) -> None:
        self.client.log_table(run_id, pd.DataFrame(list(rows)), path)

    def log_folder(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    def load_document(self, run_id: str, path: str) -> Any:
        """A JSON artifact of a run."""
        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text(encoding="utf-8"))

    def load_csv(self, run_id: str, path: str, **read_options: Any) -> pd.DataFrame:
        """A CSV artifact of a run as a frame."""
        with tempfile.TemporaryDirectory() as tmp:
            return pd.read_csv(self.client.download_artifacts(run_id, path, tmp), **read_options)

    def log_selection(self, experiment: str, params: Mapping[str, object], children: Sequence[RunValues]) -> str:
        """A parent run with one nested run per candidate (PyCaret's learner comparison); returns the parent's id."""
        experiment_id = self.experiment_id(experiment)
        parent = self.client.create_run(experiment_id, run_name="compare_models").info.run_id
        self.log_values(parent, params=params)
        for child in children:
            run_id = self.client.create_run(
                experiment_id, run_name=child.name, tags={PARENT_RUN_TAG: parent}
            ).info.run_id
            self.log_values(run_id, params=child.params, metrics=child.metrics)
            self.client.set_terminated(run_id)
        self.client.set_terminated(parent)
        return str(parent)

    def log_scoring_run(
        self, run_key: str, run_name: str, metrics: Mapping[str, float | None], tags: Mapping[str, str]
    ) -> str:
        """A scoring run's monitoring figures (experiment `<experiment>-scoring`), one run per run key."""
        experiment_id = self.experiment_id(f"{self.settings.experiment_name}-scoring")
        existing = self.client.search_runs([experiment_id], f"tags.run_key = '{_escaped(run_key)}'", max_results=1)
        run_id = (
            existing[0].info.run_id
            if existing
            else self.client.create_run(experiment_id, run_name=run_name, tags={"run_key": run_key}).info.run_id
        )
        for key, value in metrics.items():
            if value is not None:
                self.client.log_metric(run_id, key, float(value))
        for key, text in tags.items():
            self.client.set_tag(run_id, key, text)
        self.client.set_terminated(run_id)
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

        experiment_id = self.experiment_id(f"{self.settings.experiment_name}-performance")
        digest = hashlib.sha1(json.dumps([rows, tables], default=str, sort_keys=True).encode()).hexdigest()
        existing = self.client.search_runs(
            [experiment_id], f"tags.model_name = '{self.model_name}' and tags.model_version = '{version}'"
        )
        if existing and existing[0].data.tags.get("figures_digest") == digest:
            return str(existing[0].info.run_id)
        for run in existing:
            self.client.delete_run(run.info.run_id)
        run_id = self.client.create_run(
            experiment_id,
            run_name=f"{self.model_name} v{version}",
            tags={"model_name": self.model_name, "model_version": str(version), "figures_digest": digest},
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
            self.client.log_batch(run_id, metrics=metrics[start : start + 10 * _BATCH])
        for path, table in tables.items():
            self.log_table(run_id, table, path)
        self.client.set_terminated(run_id)
        return str(run_id)

    # -- the registry ----------------------------------------------------------------------------

    def version(self, version: str) -> VersionFacts | None:
        from mlflow.exceptions import MlflowException

        try:
            return _facts(self.client.get_model_version(self.model_name, str(version)))
        except MlflowException:
            return None

    def version_by_alias(self, alias: str) -> VersionFacts | None:
        from mlflow.exceptions import MlflowException

        try:
            return _facts(self.client.get_model_version_by_alias(self.model_name, alias))
        except MlflowException:
            return None

    def find_version(self, tag: str, value: str) -> VersionFacts | None:
        """The first version of the model with ``tag`` = ``value`` (e.g. the DAG run that registered it)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(
                f"name = '{self.model_name}' and tags.{tag} = '{_escaped(value)}'"
            )
        except MlflowException:
            return None
        return _facts(found[0]) if found else None

    def model_tags(self) -> dict[str, str] | None:
        """The registered model's tags; ``None`` when the model is not registered."""
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_registered_model(self.model_name).tags)
        except MlflowException:
            return None

    def set_model_tag(self, key: str, value: str) -> None:
        self.client.set_registered_model_tag(self.model_name, key, value)

    def set_version_tags(self, version: str, tags: Mapping[str, object]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, str(value))

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def register(self, model_uri: str, tags: Mapping[str, str], description: str) -> str:
        """A new version of the registered model (created on first use) from a run's logged model."""
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name, description=description)
        # register_model (not create_model_version) ties the version to MLflow 3's logged model id,
        # which a tracking server insists on
        with self._fluent():
            version = mlflow.register_model(model_uri, self.model_name, tags=dict(tags))
        return str(version.version)

    def load_model(self, version: str) -> Any:
        """A registered version as a pyfunc model (``mlflow.pyfunc.PyFuncModel``).

        The download location is asked of this client: ``models:/`` URIs would be resolved through
        MLflow's process-wide registry URI.
        """
        import mlflow

        source = self.client.get_model_version_download_uri(self.model_name, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=self.uri)
            return mlflow.pyfunc.load_model(local)

    # -- the fluent API, pointed at this store for one call ---------------------------------------

    @contextmanager
    def _fluent(self) -> Iterator[None]:
        """MLflow's fluent API on this store inside the block; the URIs and the environment as they were after."""
        import mlflow

        exported = {var: os.environ.get(var) for var in _URI_VARIABLES}
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        mlflow.set_tracking_uri(self.uri)
        os.environ["MLFLOW_REGISTRY_URI"] = self.uri
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it, as MLflow documents
            for var, value in exported.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value


@dataclass(frozen=True)
class RunValues:
    """One nested run: its name, params and metrics."""

    name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]


def _facts(version: ModelVersion) -> VersionFacts:
    return VersionFacts(version=str(version.version), run_id=str(version.run_id), tags=dict(version.tags))


def _escaped(value: str) -> str:
    return value.replace("'", "\\'")


def _staging_table_source(url: str, table: str) -> Any:
    """A table of the staging database as an MLflow dataset source (MLflow resolves no database URL itself)."""
    from mlflow.data.dataset_source import DatasetSource

    class StagingTableSource(DatasetSource):  # type: ignore[misc]  # mlflow's classes are untyped
        def __init__(self, url: str, table: str) -> None:
            self.url, self.table = url, table

        @staticmethod
        def _get_source_type() -> str:
            return "staging_table"

        def load(self, **_kwargs: object) -> None:
            raise NotImplementedError("read the table with lead_scoring.staging.StagingDatabase")

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
