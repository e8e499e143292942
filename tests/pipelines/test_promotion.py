"""The promotion gate compares like with like: the same leads on both sides, at equal information."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.factories import write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """Version 1 trained on the leads up to 2021-10-31 (champion); version 2 registered on every lead up
    to 2021-12-31, not promoted yet. Same generated export, same recipe."""
    from lead_scoring.cli import main
    from lead_scoring.pipelines import training

    home = tmp_path_factory.mktemp("promotion")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        write_csv(generate_leads(15000, seed=11), home / "leads.csv")
        assert main(["prepare", "--input", str(home / "leads.csv")]) == 0
        assert main(["train", "--until", "2021-10-31"]) == 0
        settings = Settings.from_env()
        run_id = training.train_step(settings)
        version = training.register_step(settings, run_id)
    return home, version, run_id


def test_the_promotion_comparison_uses_the_same_leads_on_both_sides(two_versions, monkeypatch):
    """The candidate's recipe fitted to the champion's cut-off is the champion's own recipe on the same
    leads: on the same later leads both figures must be equal, and the count is the candidate's
    validation leads created after the champion's last training lead. (Each side flags by its own
    decision policy, so precision and recall may differ.)"""
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.adapters.staging import StagingDatabase
    from lead_scoring.pipelines.training import promote_step

    home, version, run_id = two_versions
    monkeypatch.setenv("LEAD_SCORING_HOME", str(home))
    settings = Settings.from_env()
    champion = registry.version_by_alias(settings, "champion")
    assert champion is not None and champion.version == "1"
    validation = registry.load_validation(settings, run_id)
    newer = int((validation["created_date"] > pd.Timestamp(champion.tags["trained_until"])).sum())
    assert newer > 200

    read_table = StagingDatabase.read_table

    def no_model_input(self, name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        assert name != "model_input", "the promote step compares on the run's saved leads, not on model_input"
        return read_table(self, name, *args, **kwargs)

    monkeypatch.setattr(StagingDatabase, "read_table", no_model_input)
    outcome = promote_step(settings, version)

    compared = [r for r in outcome.reasons if r.startswith("on the same ")]
    assert len(compared) == 1, outcome.reasons  # once, not twice
    assert compared[0].startswith(f"on the same {newer} leads created ")
    ours = compared[0].split("this recipe ")[1].split(" precision")[0]
    theirs = compared[0].split("champion v1 ")[1].split(" precision")[0]
    assert ours == theirs  # same recipe, same information, same leads: the same AUC (flags: each its own policy)
    assert outcome.promoted is True
    assert registry.version_by_alias(settings, "champion").version == version
    assert registry.version_by_alias(settings, "challenger") is None  # the promoted version is no challenger
