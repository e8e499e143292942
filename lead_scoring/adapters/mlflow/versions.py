"""The model registry in MLflow: versions, aliases and tags of the one registered model, and loading a
version as a pyfunc. The champion rules built on it are in :mod:`lead_scoring.adapters.mlflow.registry`."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lead_scoring.adapters.mlflow.store import Store, VersionFacts, _escaped, _facts, not_found


class ModelVersions:
    """Versions, aliases and tags of the settings' registered model."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def version(self, version: str) -> VersionFacts | None:
        from mlflow.exceptions import MlflowException

        try:
            return _facts(self.store.client.get_model_version(self.store.model_name, str(version)))
        except MlflowException as exc:
            if not_found(exc):
                return None
            raise self.store.unavailable(exc) from None

    def version_by_alias(self, alias: str) -> VersionFacts | None:
        from mlflow.exceptions import MlflowException

        try:
            return _facts(self.store.client.get_model_version_by_alias(self.store.model_name, alias))
        except MlflowException as exc:
            if not_found(exc):
                return None
            raise self.store.unavailable(exc) from None

    def find_version(self, tag: str, value: str) -> VersionFacts | None:
        """The first version of the model with ``tag`` = ``value`` (e.g. the DAG run that registered it)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.store.client.search_model_versions(
                f"name = '{self.store.model_name}' and tags.{tag} = '{_escaped(value)}'"
            )
        except MlflowException as exc:
            if not_found(exc):
                return None
            raise self.store.unavailable(exc) from None
        return _facts(found[0]) if found else None

    def all_versions(self) -> list[VersionFacts]:
        """Every version of the registered model (none when it is not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.store.client.search_model_versions(f"name = '{_escaped(self.store.model_name)}'")
        except MlflowException as exc:
            if not_found(exc):
                return []
            raise self.store.unavailable(exc) from None
        return [_facts(version) for version in found]

    def model_tags(self) -> dict[str, str] | None:
        """The registered model's tags; ``None`` when the model is not registered."""
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.store.client.get_registered_model(self.store.model_name).tags)
        except MlflowException as exc:
            if not_found(exc):
                return None
            raise self.store.unavailable(exc) from None

    def set_model_tag(self, key: str, value: str) -> None:
        self.store.client.set_registered_model_tag(self.store.model_name, key, value)

    def set_version_tags(self, version: str, tags: Mapping[str, object]) -> None:
        for key, value in tags.items():
            self.store.client.set_model_version_tag(self.store.model_name, version, key, str(value))

    def set_alias(self, alias: str, version: str) -> None:
        self.store.client.set_registered_model_alias(self.store.model_name, alias, version)

    def delete_alias(self, alias: str) -> None:
        self.store.client.delete_registered_model_alias(self.store.model_name, alias)

    def register(self, model_uri: str, tags: Mapping[str, str], description: str) -> str:
        """A new version of the registered model (created on first use) from a run's logged model."""
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            self.store.client.get_registered_model(self.store.model_name)
        except MlflowException:
            self.store.client.create_registered_model(self.store.model_name, description=description)
        # register_model (not create_model_version) ties the version to MLflow 3's logged model id,
        # which a tracking server insists on
        with self.store.fluent():
            version = mlflow.register_model(model_uri, self.store.model_name, tags=dict(tags))
        return str(version.version)

    def model_artifacts_present(self, version: str) -> bool:
        """Whether the version's model files are still in the artifact store (its MLmodel file is listed)."""
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            source = self.store.client.get_model_version_download_uri(self.store.model_name, str(version))
        except MlflowException as exc:
            raise self.store.unavailable(exc) from None
        try:
            listed = mlflow.artifacts.list_artifacts(artifact_uri=source, tracking_uri=self.store.uri)
        except Exception:  # noqa: BLE001 - a missing folder or object is "gone", whatever the store says
            return False
        return any(Path(item.path).name == "MLmodel" for item in listed)

    def load_model(self, version: str, model_config: Mapping[str, Any] | None = None) -> Any:
        """A registered version as a pyfunc model (``mlflow.pyfunc.PyFuncModel``), ``model_config`` given to it.

        The download location is asked of this client: ``models:/`` URIs would be resolved through
        MLflow's process-wide registry URI.
        """
        import mlflow

        source = self.store.client.get_model_version_download_uri(self.store.model_name, str(version))
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=self.store.uri)
            return mlflow.pyfunc.load_model(local, model_config=dict(model_config) if model_config else None)
