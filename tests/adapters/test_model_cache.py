"""inference.load_model keeps a loaded version for the process: the champion is looked up every time,
its model and profile are loaded once per version."""

from __future__ import annotations

import pytest

from lead_scoring.adapters.mlflow.registry import ScoringModel
from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.pipelines import scoring as inference


@pytest.fixture
def registry(monkeypatch):
    """A fake registry: the champion alias points at ``champion[0]``; every load is counted."""
    champion = ["1"]
    loads: list[str] = []

    def scoring_version(_settings, version=None):
        number = champion[0] if version is None else version
        return VersionFacts(version=number, run_id=f"run-{number}", tags={"alias_seen": champion[0]})

    def load_version(settings, found):
        loads.append(found.version)
        return ScoringModel(settings.model_name, found.version, found.run_id, object(), {}, dict(found.tags))

    monkeypatch.setattr(inference, "scoring_version", scoring_version)
    monkeypatch.setattr(inference, "load_version", load_version)
    monkeypatch.setattr(inference, "_LOADED", type(inference._LOADED)())
    return champion, loads


def test_a_version_is_loaded_once_and_another_version_separately(settings, registry):
    champion, loads = registry
    first = inference.load_model(settings)
    again = inference.load_model(settings, version="1")
    assert again.model is first.model
    assert loads == ["1"]

    champion[0] = "2"  # the alias moved: the new champion is loaded, not the cached one
    second = inference.load_model(settings)
    assert second.version == "2"
    assert second.model is not first.model
    assert second.tags == {"alias_seen": "2"}
    assert inference.load_model(settings, version="1").model is first.model
    assert loads == ["1", "2"]


def test_only_the_latest_versions_stay_loaded(settings, registry):
    _champion, loads = registry
    models = {v: inference.load_model(settings, version=v).model for v in ("1", "2", "3")}
    assert inference.load_model(settings, version="3").model is models["3"]
    assert inference.load_model(settings, version="1").model is not models["1"]  # evicted, loaded again
    assert loads == ["1", "2", "3", "1"]


def test_another_registry_does_not_share_a_version(settings, registry, tmp_path):
    _champion, loads = registry
    first = inference.load_model(settings, version="1")
    elsewhere = settings.with_overrides(tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    assert inference.load_model(elsewhere, version="1").model is not first.model
    assert loads == ["1", "1"]
