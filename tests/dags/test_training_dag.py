"""The training DAG end to end with dag.test(), on SQLite stores."""

from __future__ import annotations

import pytest

from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.conftest import load_dag
from tests.factories import write_csv

pytestmark = pytest.mark.slow


def test_training_dag_trains_registers_and_promotes(airflow_db, home, cli, monkeypatch):
    from lead_scoring.adapters.mlflow import registry

    monkeypatch.setenv("LEAD_SCORING_TARGET_PRECISION", "0.6")  # the gate is tested elsewhere; this is wiring
    assert cli("prepare", "--input", write_csv(generate_leads(5000, seed=31), home / "leads.csv"))[0] == 0
    dag = load_dag("lead_scoring_training_pipeline.py", "training_pipeline_dag")

    run = dag.test()

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    settings = Settings.from_env()
    champion = registry.version_by_alias(settings, "champion")
    assert champion is not None and str(champion.version) == "1"
    assert champion.tags["airflow_run"] == run.run_id
    assert champion.tags["promotion_decision"] == "promoted"

    # a retry of the same DAG run reuses its MLflow run and its version: no duplicate
    from lead_scoring.pipelines import training as training_pipeline

    assert training_pipeline.train_step(settings, airflow_run=run.run_id) == champion.run_id
    assert training_pipeline.register_step(settings, champion.run_id, airflow_run=run.run_id) == "1"
    assert len(registry.client(settings).search_model_versions(f"name = '{settings.model_name}'")) == 1


def test_training_dag_fails_early_on_too_few_leads(airflow_db, home, cli):
    from lead_scoring.adapters.mlflow import registry

    assert cli("prepare", "--input", write_csv(generate_leads(50, seed=32), home / "few.csv"))[0] == 0
    run = load_dag("lead_scoring_training_pipeline.py", "training_pipeline_dag").test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["check_input"] == "failed" and states["train"] == "upstream_failed"
    assert registry.version_by_alias(Settings.from_env(), "champion") is None
