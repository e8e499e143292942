"""Model selection through the CLI: PyCaret compares learners on time-ordered folds, each one an MLflow run."""

from __future__ import annotations

import pytest

from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.factories import write_csv

pytestmark = pytest.mark.slow


def test_experiment_logs_every_candidate(home, cli):
    from lead_scoring.adapters.mlflow import registry

    assert cli("prepare", "--input", write_csv(generate_leads(3000, seed=41), home / "leads.csv"))[0] == 0
    status, out, err = cli("experiment", "--learners", "lightgbm,lr", "--folds", "2")
    assert status == 0, err
    assert "Light Gradient Boosting Machine" in out and "Logistic Regression" in out
    settings = Settings.from_env()
    client = registry.client(settings)
    experiment = client.get_experiment_by_name("lead_scoring-selection")
    runs = client.search_runs([experiment.experiment_id], "tags.mlflow.parentRunId != ''")
    assert sorted(run.data.params["learner"] for run in runs) == ["lightgbm", "lr"]
    assert all(0.5 < run.data.metrics["cv_auc"] <= 1 for run in runs)
