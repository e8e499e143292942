"""A version whose model files were deleted from the artifact store (#29.10), on a real MLflow store:
`promote` refuses it with one line and nothing moves; a rerun of a day it decided names the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lead_scoring.lab.generate import generate_leads
from tests.factories import prepare_and_train

pytestmark = pytest.mark.slow


def model_folder(home: Path, version: str) -> Path:
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    settings = Settings.from_env()
    source = registry.client(settings).get_model_version_download_uri(settings.model_name, version)
    return Path(source.removeprefix("file://"))


def test_promote_refuses_a_version_whose_artifacts_are_gone(home, cli):
    prepare_and_train(home, generate_leads(3000, seed=5, start="2021-07-01", end="2021-10-31"))
    assert cli("train", "--force-promote", "--reason", "a second version")[0] == 0  # v2 champion
    folder = model_folder(home, "1")
    assert (folder / "MLmodel").is_file()
    shutil.rmtree(folder)
    status, out, err = cli("promote", "1", "--reason", "back to v1")
    assert (status, out) == (2, "")
    assert err.strip().splitlines() == [
        "error: version 1 of 'lead_scoring' has no model artifacts (deleted?): it cannot serve; nothing was moved"
    ]
    status, out, _ = cli("rollback", "--reason", "v2 is bad")
    assert status == 2
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    assert registry.version_by_alias(Settings.from_env(), "champion").version == "2"


def test_the_gate_compares_with_no_champion_whose_artifacts_are_gone(home, cli):
    """The promote step loaded the gone champion to score the saved leads: a traceback, no decision."""
    leads = generate_leads(4000, seed=5, start="2021-07-01", end="2021-11-30")
    # v1 is made champion whatever the gate would say of it: the test is about losing its files
    prepare_and_train(home, leads, "--until", "2021-09-30", "--force-promote", "--reason", "a champion to lose")
    shutil.rmtree(model_folder(home, "1"))  # the serving champion's files
    status, _out, err = cli("train")
    assert status == 0, err
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    reasons = registry.client(Settings.from_env()).get_model_version("lead_scoring", "2").tags["promotion_reasons"]
    assert "not compared with champion v1 (the model artifacts of champion v1 are gone)" in reasons
