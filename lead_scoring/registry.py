"""The MLflow edge: tracking runs, the model registry and its aliases (`challenger`, `champion`).

Every move of the `champion` alias is recorded twice: as tags on the versions involved (who, when,
why) and appended to the registered model's `champion_history` tag, so which version was champion
when is never lost.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lead_scoring.errors import ModelNotFoundError
from lead_scoring.scoring import scoring_run_name
from lead_scoring.settings import Settings

if TYPE_CHECKING:
    from lead_scoring.feedback import WeekPerformance

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
_SCHEMA_SAMPLE = 10_000  # leads a training dataset's schema is inferred from
_HISTORY_KEEP = 40  # entries in the model-level tag; each version keeps its own tags forever
# MLflow 3.17's UI shows an experiment's runs (not its GenAI traces view) for this kind, and a link
# with this query parameter opens the runs view whatever the kind
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
RUNS_VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://localhost:5000"


@dataclass
class Champion:
    name: str
    version: str
    run_id: str
    model: object  # mlflow.pyfunc.PyFuncModel
    profile: dict | None
    tags: dict

    @property
    def scorer(self):  # noqa: ANN201 - lead_scoring.model.LeadScorer
        return self.model.unwrap_python_model().scorer


def client(settings: Settings):  # noqa: ANN201 - mlflow.MlflowClient
    """An MLflow client on the settings' tracking store (set here, never at import)."""
    import mlflow

    exported = {var: os.environ.get(var) for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(settings.tracking_uri)  # for the fluent API (runs, log_model, load_model)
    mlflow.set_registry_uri(settings.tracking_uri)
    # ...but mlflow also exports them as environment variables, which would then override the
    # settings of every later Settings.from_env() in this process (dag.test, tests, notebooks).
    for var, value in exported.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    return mlflow.MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def experiment_id(settings: Settings, name: str | None = None) -> str:
    """The experiment's id, created on first use with its artifacts under LEAD_SCORING_HOME/mlruns.

    Tagged as model development, so the MLflow UI opens it on its runs rather than its GenAI view
    (traces, judges); an experiment created before the tag existed gets it on its next use.
    """
    name = name or settings.experiment_name
    mlflow_client = client(settings)
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            mlflow_client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id
    location = None
    if not settings.tracking_uri.startswith(("http://", "https://", "databricks")):
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
        location = settings.artifact_root.resolve().as_uri()
    return mlflow_client.create_experiment(
        name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    )


def ui_base(settings: Settings) -> str:
    """Where a person opens the MLflow UI: the tracking server itself, else `make mlflow`'s address."""
    if settings.tracking_uri.startswith(("http://", "https://")):
        return settings.tracking_uri.rstrip("/")
    return LOCAL_UI


def experiment_link(settings: Settings) -> str:
    """The runs view of the training experiment when it exists (else the UI's front page); never creates it."""
    found = client(settings).get_experiment_by_name(settings.experiment_name)
    base = ui_base(settings)
    return runs_url(base, found.experiment_id) if found is not None else base


def runs_url(base: str, experiment: str) -> str:
    """The MLflow UI's runs table of an experiment (its hash route, forced to the model-training view)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment}/runs?{RUNS_VIEW}"


def actor() -> str:
    """Who made a registry move: $LEAD_SCORING_USER, else the OS user."""
    return os.environ.get("LEAD_SCORING_USER") or getpass.getuser()


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- versions and aliases ---------------------------------------------------------------------------


def version_by_alias(settings: Settings, alias: str):  # noqa: ANN201 - ModelVersion | None
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(settings.model_name, alias)
    except MlflowException:
        return None


def find_version_for_airflow_run(settings: Settings, airflow_run: str):  # noqa: ANN201
    """The version a DAG run already registered (so a rerun does not register a duplicate)."""
    from mlflow.exceptions import MlflowException

    escaped = airflow_run.replace("'", "\\'")
    try:
        versions = client(settings).search_model_versions(
            f"name = '{settings.model_name}' and tags.airflow_run = '{escaped}'"
        )
    except MlflowException:
        return None
    return versions[0] if versions else None


def find_training_run(settings: Settings, airflow_run: str) -> str | None:
    """The finished training run (with its model logged) a DAG run already made, so a retry reuses it."""
    mlflow_client = client(settings)
    found = mlflow_client.get_experiment_by_name(settings.experiment_name)
    if found is None:
        return None
    escaped = airflow_run.replace("'", "\\'")
    runs = mlflow_client.search_runs(
        [found.experiment_id],
        f"tags.airflow_run = '{escaped}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    runs = [run for run in runs if run.data.tags.get("model_uri")]
    return runs[0].info.run_id if runs else None


def register(settings: Settings, run_id: str, model_uri: str, tags: dict[str, str]) -> str:
    """A new version of the registered model from a run's logged model, aliased `challenger`."""
    import mlflow

    mlflow_client = client(settings)
    try:
        mlflow_client.get_registered_model(settings.model_name)
    except mlflow.exceptions.MlflowException:
        mlflow_client.create_registered_model(
            settings.model_name, description="CodePro lead scorer: probability a lead completes an application."
        )
    # register_model (not create_model_version) ties the version to MLflow 3's logged model id,
    # which a tracking server insists on
    version = mlflow.register_model(model_uri, settings.model_name, tags=tags)
    mlflow_client.set_registered_model_alias(settings.model_name, CHALLENGER, version.version)
    return str(version.version)


def set_version_tags(settings: Settings, version: str, tags: dict[str, object]) -> None:
    mlflow_client = client(settings)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(settings.model_name, version, key, str(value))


def move_champion(
    settings: Settings,
    version: str,
    *,
    reason: str,
    forced: bool = False,
    by: str | None = None,
    rolled_back: bool = False,
) -> None:
    """Point `champion` at ``version`` and record who, when and why on both versions and in the history."""
    mlflow_client = client(settings)
    model = _registered_model(settings)
    version = normalise_version(version)
    _require_version(settings, version)
    previous = version_by_alias(settings, CHAMPION)
    at, by = now_utc(), by or actor()
    mlflow_client.set_registered_model_alias(settings.model_name, CHAMPION, version)
    set_version_tags(
        settings,
        version,
        {"promoted_at": at, "promoted_by": by, "promotion_reason": reason, "promotion_forced": str(forced).lower()},
    )
    if previous is not None and str(previous.version) != version:
        set_version_tags(settings, previous.version, {"retired_at": at, "retired_by": by, "retired_for": version})
    history = json.loads(model.tags.get(HISTORY_TAG, "[]"))
    history.append(
        {
            "version": version,
            "alias": CHAMPION,
            "at": at,
            "by": by,
            "why": reason,
            "forced": forced,
            "previous": str(previous.version) if previous is not None else None,
            "rollback": rolled_back,
        }
    )
    mlflow_client.set_registered_model_tag(settings.model_name, HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))
    log.info("champion is now version %s (%s)", version, reason)


def normalise_version(version: object) -> str:
    """A registry version number as MLflow writes it ("01" and " 1" are "1"); anything else: a clear error."""
    text = str(version).strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ModelNotFoundError(f"{str(version)!r} is not a version number (1, 2, ...)")
    return str(int(text))


def _require_version(settings: Settings, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client(settings).get_model_version(settings.model_name, version)
    except MlflowException:
        raise ModelNotFoundError(f"'{settings.model_name}' has no version {version}") from None


def champion_history(settings: Settings) -> list[dict]:
    return json.loads(_registered_model(settings).tags.get(HISTORY_TAG, "[]"))


def rollback(settings: Settings, reason: str, by: str | None = None) -> tuple[str, str]:
    """Move `champion` back to the version that held it before the current one; returns (from, to).

    Rollbacks walk back through the history (v1 -> v2 -> v3, then rollback: v2, rollback again:
    v1), they do not toggle between the last two versions.
    """
    current = version_by_alias(settings, CHAMPION)
    if current is None:
        raise ModelNotFoundError(f"registered model '{settings.model_name}' has no champion to roll back")
    held = champion_stack(champion_history(settings))
    if not held or held[-1] != str(current.version):  # the alias was moved outside this package
        held.append(str(current.version))
    if len(held) < 2:
        raise ModelNotFoundError(
            f"version {current.version} is the oldest champion in the history; nothing earlier to roll back to"
        )
    target = held[-2]
    move_champion(
        settings, target, reason=f"rollback from version {current.version}: {reason}", by=by, rolled_back=True
    )
    return str(current.version), target


def champion_stack(history: list[dict]) -> list[str]:
    """The versions that held `champion`, oldest first, with the ones rolled back taken off (pure).

    A promotion puts its version on top; a rollback takes the top off. The top is the champion and
    the one below it is where the next rollback goes.
    """
    held: list[str] = []
    for entry in history:
        version = str(entry["version"])
        if entry.get("rollback") or str(entry.get("why", "")).startswith("rollback from version "):
            if held:
                held.pop()
            if not held or held[-1] != version:
                held.append(version)
        elif not held or held[-1] != version:
            held.append(version)
    return held


def _registered_model(settings: Settings):  # noqa: ANN202
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_registered_model(settings.model_name)
    except MlflowException:
        raise ModelNotFoundError(
            f"no registered model '{settings.model_name}' in {settings.redacted_tracking_uri()}: "
            "run `lead-scoring train` first"
        ) from None


# -- loading a model for scoring --------------------------------------------------------------------


def load_scoring_model(settings: Settings, version: str | None = None) -> Champion:
    """The champion (or a given version) as a pyfunc, with the reference profile saved beside it."""
    import mlflow

    client(settings)
    if version is None:
        found = version_by_alias(settings, CHAMPION)
        if found is None:
            raise ModelNotFoundError(
                f"no champion for '{settings.model_name}' in {settings.redacted_tracking_uri()}: "
                "run `lead-scoring train` first (or `lead-scoring promote VERSION`)"
            )
    else:
        _require_version(settings, str(version))
        found = client(settings).get_model_version(settings.model_name, str(version))
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{found.version}")
    return Champion(
        name=settings.model_name,
        version=str(found.version),
        run_id=found.run_id,
        model=model,
        profile=_load_profile(settings, found.run_id),
        tags=dict(found.tags),
    )


def _load_profile(settings: Settings, run_id: str) -> dict | None:
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/monitoring/reference_profile.json")
    except Exception:  # noqa: BLE001 - an older model without a profile is still usable for scoring
        log.warning("run %s has no monitoring/reference_profile.json: drift will not be measured", run_id)
        return None


def load_validation(settings: Settings, run_id: str) -> pd.DataFrame:
    """The validation leads (id, date, label, out-of-sample score) a training run saved."""
    import mlflow

    client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="validation/leads.csv", dst_path=tmp)
        frame = pd.read_csv(path, parse_dates=["created_date"])
    frame["lead_id"] = frame["lead_id"].astype(str)
    return frame


def log_training_dataset(settings: Settings, frame: pd.DataFrame, fingerprint: dict) -> None:
    """Log the training leads as the active run's MLflow dataset (the runs table's Dataset column):
    named by their newest lead, sourced from the staging table, digested by the content hash that
    the run's ``data_content_sha256`` param also carries."""
    import mlflow

    from lead_scoring.schema import LABEL, MODEL_INPUT

    newest = str(fingerprint.get("created_to", ""))[:10]
    dataset = mlflow.data.from_pandas(
        frame,
        source=_staging_table_source(settings.redacted_db_url(), MODEL_INPUT),
        targets=LABEL,
        name=f"{MODEL_INPUT} to {newest}",
        digest=str(fingerprint.get("content_sha256", "")) or None,
    )
    # MLflow infers a dataset's schema by reading every cell: 65 s of a million-lead training run.
    # The schema follows the columns' types, which a sample has too; ``schema`` is a cached
    # property, so it is given from the sample before the dataset is logged.
    with warnings.catch_warnings():  # its hint about integer columns is for model signatures, not datasets
        warnings.simplefilter("ignore", UserWarning)
        dataset.__dict__["schema"] = mlflow.models.infer_signature(frame.head(_SCHEMA_SAMPLE)).inputs
    mlflow.log_input(dataset, context="training")


def _staging_table_source(url: str, table: str):  # noqa: ANN202 - an mlflow DatasetSource
    """A table of the staging database as an MLflow dataset source (MLflow resolves no database URL itself)."""
    from mlflow.data.dataset_source import DatasetSource

    class StagingTableSource(DatasetSource):
        def __init__(self, url: str, table: str) -> None:
            self.url, self.table = url, table

        @staticmethod
        def _get_source_type() -> str:
            return "staging_table"

        def load(self, **_kwargs) -> None:  # noqa: ANN003
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
        def from_dict(cls, source_dict: dict) -> StagingTableSource:
            return cls(str(source_dict["url"]).split("#", 1)[0], source_dict["table"])

    return StagingTableSource(url, table)


def log_scoring_run(settings: Settings, summary: dict) -> None:
    """A scoring run's monitoring figures in MLflow (experiment `<experiment>-scoring`), one run per run key."""
    mlflow_client = client(settings)
    exp = experiment_id(settings, f"{settings.experiment_name}-scoring")
    existing = mlflow_client.search_runs([exp], f"tags.run_key = '{summary['run_key']}'", max_results=1)
    run_id = (
        existing[0].info.run_id
        if existing
        else mlflow_client.create_run(
            exp,
            run_name=scoring_run_name(summary["run_key"], summary["source"], summary["rows_scored"]),
            tags={"run_key": summary["run_key"]},
        ).info.run_id
    )
    monitoring = summary.get("monitoring", {})
    metrics = {
        "rows_scored": summary["rows_scored"],
        "positive_share": monitoring.get("positive_share"),
        "expected_positive_share": monitoring.get("expected_positive_share"),
        "share_at_reference_cut": monitoring.get("share_at_reference_cut"),
        "share_tolerance": monitoring.get("share_tolerance"),
        "score_psi": monitoring.get("score_psi"),
        "max_feature_psi": monitoring.get("max_feature_psi"),
        **{f"psi_{k}": v for k, v in monitoring.get("feature_psi", {}).items()},
    }
    for key, value in metrics.items():
        if value is not None:
            mlflow_client.log_metric(run_id, key, float(value))
    for key, value in {
        "model_version": summary["model_version"],
        "status": monitoring.get("status", "ok"),
        "source": summary["source"],
    }.items():
        mlflow_client.set_tag(run_id, key, str(value))
    mlflow_client.set_terminated(run_id)


def log_model_performance(
    settings: Settings,
    version: str,
    weeks: Sequence[WeekPerformance],
    tables: Mapping[str, Sequence[dict]] | None = None,
) -> str:
    """A version's realized weekly figures in MLflow (experiment `<experiment>-performance`), one run per version.

    Metrics are stepped by ISO week (step YYYYWW, timestamp the week's Monday); ``tables`` (artifact
    path -> rows, e.g. the live gain table) are logged beside them. Idempotent: the same figures
    leave the run as it is; changed figures replace it (the old run is deleted).
    """
    from mlflow.entities import Metric

    mlflow_client = client(settings)
    exp = experiment_id(settings, f"{settings.experiment_name}-performance")
    rows = [week.row() for week in weeks]
    tables = dict(tables or {})
    digest = hashlib.sha1(json.dumps([rows, tables], default=str, sort_keys=True).encode()).hexdigest()
    existing = mlflow_client.search_runs(
        [exp], f"tags.model_name = '{settings.model_name}' and tags.model_version = '{version}'"
    )
    if existing and existing[0].data.tags.get("figures_digest") == digest:
        return existing[0].info.run_id
    for run in existing:
        mlflow_client.delete_run(run.info.run_id)
    run_id = mlflow_client.create_run(
        exp,
        run_name=f"{settings.model_name} v{version}",
        tags={"model_name": settings.model_name, "model_version": str(version), "figures_digest": digest},
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
    for start in range(0, len(metrics), 1000):  # MLflow's batch limit
        mlflow_client.log_batch(run_id, metrics=metrics[start : start + 1000])
    for path, table in tables.items():
        mlflow_client.log_table(run_id, pd.DataFrame(list(table)), path)
    mlflow_client.set_terminated(run_id)
    return run_id
