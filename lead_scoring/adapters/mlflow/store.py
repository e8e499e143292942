"""The MLflow store: one client on the settings' tracking store and model registry, experiments,
run values and artifacts. The other modules of this package add runs and the registry to it.

Everything goes through the one ``MlflowClient`` a store holds, built with explicit URIs, so no
MLflow global and no environment variable changes. What crosses out of here is plain data
(:class:`RunFacts`, :class:`VersionFacts`, dicts, frames), never an MLflow entity.

Two operations exist only in MLflow's fluent API, which reads the process-wide tracking URI:
logging a pyfunc model (with the run's dataset input) and registering a version from a logged
model (MLflow's SQL registry store looks the logged model up through the global URI, see its
``create_model_version``). :meth:`Store.fluent` points the fluent API at this store for
those calls only and puts back exactly what was there before, environment included.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from lead_scoring.adapters.exports import from_spreadsheet_safe
from lead_scoring.errors import ConfigurationError, TrackingUnavailableError
from lead_scoring.settings import Settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

# MLflow 3.17's UI shows an experiment's runs (not its GenAI traces view) for this kind, and a link
# with this query parameter opens the runs view whatever the kind
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
RUNS_VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://localhost:5000"
PARENT_RUN_TAG = "mlflow.parentRunId"
_BATCH = 100  # params or tags per log_batch call (MLflow's limit); metrics allow 1,000
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def not_found(exc: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist (an unknown alias is an
    invalid parameter to MLflow), rather than that the store could not answer."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


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
class RunValues:
    """One nested run: its name, params and metrics."""

    name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]


def ui_base(tracking_uri: str) -> str:
    """Where a person opens the MLflow UI: the tracking server itself, else `make mlflow`'s address.

    Never with the URI's ``user:password@`` or query: a link is printed, logged and shared (the
    browser asks for the login; clients read MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD).
    """
    if tracking_uri.startswith(("http://", "https://")):
        parts = urlsplit(tracking_uri)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")
    return LOCAL_UI


def runs_url(base: str, experiment: str) -> str:
    """The MLflow UI's runs table of an experiment (its hash route, forced to the model-training view)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment}/runs?{RUNS_VIEW}"


class Store:
    """One MLflow client on the settings' tracking store, which is also the model registry."""

    def __init__(self, settings: Settings) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        self.settings = settings
        self.uri = settings.tracking_uri
        self.model_name = settings.model_name
        try:
            self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        except MlflowException:  # an unknown scheme: MLflow has no store for it
            raise ConfigurationError(
                f"MLFLOW_TRACKING_URI={settings.redacted_tracking_uri()!r} is not a tracking store MLflow can use "
                "(sqlite:///PATH, postgresql://HOST/DB or http(s)://SERVER)"
            ) from None

    def unavailable(self, exc: Exception) -> TrackingUnavailableError:
        """The one-line error for a tracking store that did not answer (never "no champion")."""
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return TrackingUnavailableError(
            f"cannot reach the MLflow tracking store {self.settings.redacted_tracking_uri()}: {first[:300]}"
        )

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
        """A CSV artifact of a run as a frame, its spreadsheet escapes undone (the values as logged)."""
        with tempfile.TemporaryDirectory() as tmp:
            return from_spreadsheet_safe(pd.read_csv(self.client.download_artifacts(run_id, path, tmp), **read_options))

    # -- the fluent API, pointed at this store for one call ---------------------------------------

    @contextmanager
    def fluent(self) -> Iterator[None]:
        """MLflow's fluent API on this store inside the block; the URIs and the environment as they were after."""
        import mlflow

        exported = {var: os.environ.get(var) for var in _URI_VARIABLES}
        # (is_tracking_uri_set is untyped in mlflow)
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None  # type: ignore[no-untyped-call]
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


def _facts(version: ModelVersion) -> VersionFacts:
    return VersionFacts(version=str(version.version), run_id=str(version.run_id), tags=dict(version.tags))


def _escaped(value: str) -> str:
    return value.replace("'", "\\'")
