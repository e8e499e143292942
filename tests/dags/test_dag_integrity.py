"""DAG integrity: every file in dags/ parses cleanly, fast, with the expected DAGs and edges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))

EXPECTED_EDGES: dict[str, set[tuple[str, str]]] = {
    "lead_scoring_data_pipeline": {
        ("validate", "load"),
        ("load", "map_city_tier"),
        ("map_city_tier", "map_categorical_levels"),
        ("map_categorical_levels", "map_interactions"),
        ("map_interactions", "build_model_input"),
        ("build_model_input", "publish"),
        ("publish", "discard_scratch"),
    },
    "lead_scoring_training_pipeline": {
        ("check_input", "train"),
        ("train", "validation_report"),
        ("train", "register"),
        ("validation_report", "register"),
        ("register", "promote"),
    },
    "lead_scoring_inference_pipeline": {
        ("check_input", "validate"),
        ("validate", "transform"),
        ("transform", "score"),
        ("score", "write"),
        ("score", "monitor"),
        ("write", "outbox"),
        ("outbox", "monitor"),
        ("monitor", "discard_scratch"),
    },
    "lead_scoring_feedback_pipeline": {
        ("find_outcomes", "ingest"),
        ("ingest", "recompute_performance"),
        ("recompute_performance", "check_targets"),
        ("recompute_performance", "append_labelled"),
        ("append_labelled", "retraining_needed"),
        ("retraining_needed", "publish"),
    },
}

INFERENCE = "lead_scoring_inference_pipeline"
DAG_OBJECTS = {
    "lead_scoring_data_pipeline": ("lead_scoring_data_pipeline.py", "data_pipeline_dag"),
    "lead_scoring_training_pipeline": ("lead_scoring_training_pipeline.py", "training_pipeline_dag"),
    INFERENCE: ("lead_scoring_inference_pipeline.py", "inference_pipeline_dag"),
    "lead_scoring_feedback_pipeline": ("lead_scoring_feedback_pipeline.py", "feedback_pipeline_dag"),
}

HEAVY_MODULES = ["pandas", "mlflow", "lightgbm", "pycaret", "sklearn", "matplotlib", "pandera"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(DAG_FILES) >= len(EXPECTED_EDGES)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_EDGES))
def test_expected_dags_and_edges(dagbag, dag_id):
    dag = dagbag.dags.get(dag_id)
    assert dag is not None, f"{dag_id} not found in dags/"
    edges = {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}
    assert edges == EXPECTED_EDGES[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 200, "the DAG docstring is its UI documentation"
    assert "lead_scoring" in dag.tags


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_EDGES))
def test_every_task_retries_a_glitch_and_fails_a_verdict_at_once(dagbag, dag_id):
    """Every task is safe to rerun: a transient error is retried after a delay, a LeadScoringError
    (bad input, no champion, drift, a week below target) fails at once, a busy staging lock waits."""
    from datetime import timedelta

    from airflow.sdk import RetryAction
    from sqlalchemy.exc import OperationalError

    from lead_scoring.errors import BelowTargetError, InputDataError, StagingBusyError

    for task in dagbag.dags[dag_id].tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_delay == timedelta(minutes=5), task.task_id
        decide = task.retry_policy.evaluate
        assert decide(InputDataError("bad file"), 1, 3).action == RetryAction.FAIL, task.task_id
        assert decide(BelowTargetError("week below"), 1, 3).action == RetryAction.FAIL, task.task_id
        assert decide(StagingBusyError("locked"), 1, 3).action == RetryAction.RETRY, task.task_id
        glitch = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        assert decide(glitch, 1, 3).action == RetryAction.DEFAULT, task.task_id  # the task's own retries


def test_data_dag_publishes_the_model_input_asset(dagbag):
    from lead_scoring.schema import MODEL_INPUT_ASSET_URI

    publish = dagbag.dags["lead_scoring_data_pipeline"].get_task("publish")
    assert [outlet.uri for outlet in publish.outlets] == [MODEL_INPUT_ASSET_URI]


def test_training_runs_when_the_data_pipeline_publishes(dagbag):
    from lead_scoring.schema import MODEL_INPUT_ASSET_URI

    training = dagbag.dags["lead_scoring_training_pipeline"]
    assert MODEL_INPUT_ASSET_URI in repr(training.timetable.asset_condition)


@pytest.mark.parametrize("dag_id", ["lead_scoring_inference_pipeline", "lead_scoring_feedback_pipeline"])
def test_daily_dags_run_over_whole_days(dagbag, dag_id):
    daily = dagbag.dags[dag_id]
    assert type(daily.timetable).__name__ == "CronDataIntervalTimetable"
    assert daily.timetable.expression == "0 0 * * *"  # @daily


def test_feedback_dag_publishes_the_model_input_asset_and_only_there(dagbag):
    from lead_scoring.schema import MODEL_INPUT_ASSET_URI

    feedback = dagbag.dags["lead_scoring_feedback_pipeline"]
    outlets = {task.task_id: [outlet.uri for outlet in task.outlets] for task in feedback.tasks if task.outlets}
    assert outlets == {"publish": [MODEL_INPUT_ASSET_URI]}


_PARSE_PROBE = """
import importlib.util, json, sys
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
import airflow.sdk  # Airflow itself is imported by the dag-processor before any DAG file

connections = []
event.listen(Engine, "connect", lambda *a: connections.append("db"))
sys.modules.update({"mlflow": None, "lightgbm": None, "pycaret": None})  # importing one now raises
sys.path.append(sys.argv[1])  # the DAGs folder, as the DAG processor puts its bundle on sys.path
before = {name for name, module in sys.modules.items() if module is not None}
for path in sys.argv[2:]:
    spec = importlib.util.spec_from_file_location("dagfile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
new = [name.split(".")[0] for name, module in sys.modules.items() if module is not None and name not in before]
print(json.dumps({"connections": connections, "new_modules": sorted(set(new))}))
"""


def test_parsing_is_light_and_opens_no_connection():
    """A parse imports no heavy library and opens no database or MLflow connection."""
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_PROBE, str(DAGS_DIR), *map(str, DAG_FILES)],
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["connections"] == []
    for heavy in HEAVY_MODULES:
        assert heavy not in probe["new_modules"], f"{heavy} imported while parsing dags/"


def test_the_inference_dag_runs_as_many_days_at_once_as_the_setting_says(monkeypatch):
    from tests.conftest import load_dag

    assert load_dag("lead_scoring_inference_pipeline.py", "inference_pipeline_dag").max_active_runs == 1
    monkeypatch.setenv("LEAD_SCORING_DB_URL", "postgresql+psycopg2://lead:x@127.0.0.1/staging")
    monkeypatch.setenv("LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS", "3")
    assert load_dag("lead_scoring_inference_pipeline.py", "inference_pipeline_dag").max_active_runs == 3


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_EDGES))
def test_every_task_mails_the_operators_when_it_fails_for_good_if_recipients_are_set(monkeypatch, dag_id):
    """Airflow calls on_failure_callback once per task that fails for good (a verdict at once, a glitch
    after its last retry) and on_retry_callback on the tries before: the mail is on the first only."""
    from tests.conftest import load_dag

    file_name, attribute = DAG_OBJECTS[dag_id]
    monkeypatch.delenv("LEAD_SCORING_ALERT_EMAILS", raising=False)
    for task in load_dag(file_name, attribute).tasks:
        assert not task.on_failure_callback and not task.on_retry_callback, task.task_id
        assert not task.on_success_callback, task.task_id

    monkeypatch.setenv("LEAD_SCORING_ALERT_EMAILS", "ops@example.test, sales@example.test")
    for task in load_dag(file_name, attribute).tasks:
        (mail,) = task.on_failure_callback
        assert type(mail).__name__ == "OperatorsMail" and mail.event == "failure", task.task_id
        assert mail.to == ["ops@example.test", "sales@example.test"]
        assert not task.on_retry_callback, task.task_id
        closes = [n.event for n in task.on_success_callback or []]
        assert closes == (["alarm_closed"] if (dag_id, task.task_id) == (INFERENCE, "monitor") else []), task.task_id


def test_the_shared_package_of_the_dags_folder_is_not_parsed_as_dag_files(dagbag):
    assert (DAGS_DIR / ".airflowignore").read_text().split() == ["common/"]
    assert not [path for path in dagbag.file_last_changed if "/common/" in str(path)]
