"""
### Lead scoring: data pipeline

Turns a raw CodePro lead export into the model input in the staging database
(`LEAD_SCORING_DB_URL`, SQLite under `LEAD_SCORING_HOME` by default):

1. **validate** the export: required columns, dates, counts, 0/1 flags; exact duplicates dropped;
   a bad file fails this task with one plain message and nothing is written;
{steps}
{publish}. **publish**: the run's tables replace the previous ones in one transaction.

Each step writes this run's private scratch table, so a failed run leaves the published tables
untouched and a rerun replaces its own output. Publishing updates the `model_input` asset,
which triggers the training pipeline.

**Params**: `input_path`, the export to read: a CSV under `LEAD_SCORING_HOME` (relative paths are
under it) or the landing folder, anything else fails the validate task; `allow_shrink`, publish
even when the export has far fewer leads than the published `model_input`
(`LEAD_SCORING_SHRINK_LIMIT`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task, teardown
from common import task_defaults

from lead_scoring.schema import DATA_STEPS, MODEL_INPUT_ASSET_URI
from lead_scoring.settings import Settings

model_input_asset = Asset(name="lead_scoring_model_input", uri=MODEL_INPUT_ASSET_URI)
# the middle of the doc above is the declared steps, numbered after validate
STEP_DOCS = "\n".join(
    f"{number}. **{step.task_id}**: {step.label} (`{step.writes}`);" for number, step in enumerate(DATA_STEPS, start=2)
)


@dag(
    dag_id="lead_scoring_data_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    # retry a glitch, fail a verdict at once, mail the operators when a task fails for good
    default_args=task_defaults(),
    max_active_runs=1,
    doc_md=__doc__.replace("{steps}", STEP_DOCS).replace("{publish}", str(len(DATA_STEPS) + 2)),
    tags=["lead_scoring", "data"],
    params={
        "input_path": Param(
            "demo/leads.csv",
            type="string",
            minLength=1,
            description="Raw lead export (CSV) under LEAD_SCORING_HOME (relative to it) or the landing folder.",
        ),
        "allow_shrink": Param(
            False,
            type="boolean",
            description="Publish even if the export has far fewer leads than model_input now.",
        ),
    },
)
def lead_scoring_data_pipeline() -> None:
    @task
    def validate(params: Any = None, run_id: Any = None) -> dict[str, Any]:
        """Validate the raw export; returns row counts."""
        from lead_scoring.pipelines import data as data_pipeline

        validated = data_pipeline.validate_step(
            Settings.from_env(), params["input_path"], run_id, allow_shrink=bool(params.get("allow_shrink"))
        )
        return dataclasses.asdict(validated)

    @task
    def run_step(task_id: str, run_id: Any = None) -> int:
        """One declared step of lead_scoring.schema.DATA_STEPS over this run's scratch tables; returns its rows."""
        from lead_scoring.pipelines import data as data_pipeline

        return data_pipeline.run_step(Settings.from_env(), run_id, task_id)

    @task(outlets=[model_input_asset])
    def publish(run_id: Any = None) -> dict[str, Any]:
        """Swap the run's tables in together; updates the model_input asset."""
        from lead_scoring.pipelines import data as data_pipeline

        return dataclasses.asdict(data_pipeline.publish_step(Settings.from_env(), run_id))

    @teardown
    def discard_scratch(run_id: Any = None) -> None:
        """Drop what a failed run left behind; the published tables are never touched."""
        from lead_scoring.pipelines import data as data_pipeline

        data_pipeline.discard_step(Settings.from_env(), run_id)

    # validate the export, run the declared steps in order, then publish all their tables at once.
    previous = validate()
    for step in DATA_STEPS:
        current = run_step.override(task_id=step.task_id, doc_md=step.label)(step.task_id)
        previous >> current
        previous = current
    published = previous >> publish()
    published >> discard_scratch()


data_pipeline_dag = lead_scoring_data_pipeline()
