"""
### Lead scoring: data pipeline

Turns a raw CodePro lead export into the model input in the staging database
(`LEAD_SCORING_DB_URL`, SQLite under `LEAD_SCORING_HOME` by default):

1. **validate** the export: required columns, dates, counts, 0/1 flags; exact duplicates dropped;
   a bad file fails this task with one plain message and nothing is written;
2. **load**: missing `total_leads_droppped` / `referred_lead` become 0 (`loaded_data`);
3. **city tier**: `city_mapped` -> tier 1/2/3 (`city_tier_mapped`);
4. **categorical levels**: rare source/medium/platform levels -> `others` (`categorical_variables_mapped`);
5. **interactions**: 37 click counters -> five interaction groups (`interactions_mapped`);
6. **model input**: the model's input contract (`model_input`);
7. **publish**: the run's five tables replace the previous ones in one transaction.

Each step writes this run's private scratch table, so a failed run leaves the published tables
untouched and a rerun replaces its own output. Publishing updates the `model_input` asset,
which triggers the training pipeline.

**Params**: `input_path`, the export to read: a CSV under `LEAD_SCORING_HOME` (relative paths are
under it) or the landing folder, anything else fails the validate task; `allow_shrink`, publish
even when the export has far fewer leads than the published `model_input`
(`LEAD_SCORING_SHRINK_LIMIT`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task, teardown

from lead_scoring.schema import MODEL_INPUT_ASSET_URI
from lead_scoring.settings import Settings

model_input_asset = Asset(name="lead_scoring_model_input", uri=MODEL_INPUT_ASSET_URI)


@dag(
    dag_id="lead_scoring_data_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
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
def lead_scoring_data_pipeline():
    @task
    def validate(params=None, run_id=None) -> dict:
        """Validate the raw export; returns row counts."""
        from lead_scoring import data_pipeline

        return data_pipeline.validate_step(
            Settings.from_env(), params["input_path"], run_id, allow_shrink=bool(params.get("allow_shrink"))
        )

    @task
    def load(run_id=None) -> int:
        from lead_scoring import data_pipeline

        return data_pipeline.load_step(Settings.from_env(), run_id)

    @task
    def map_city_tier(run_id=None) -> int:
        from lead_scoring import data_pipeline

        return data_pipeline.city_tier_step(Settings.from_env(), run_id)

    @task
    def map_categorical_levels(run_id=None) -> int:
        from lead_scoring import data_pipeline

        return data_pipeline.categorical_levels_step(Settings.from_env(), run_id)

    @task
    def map_interactions(run_id=None) -> int:
        from lead_scoring import data_pipeline

        return data_pipeline.interactions_step(Settings.from_env(), run_id)

    @task
    def build_model_input(run_id=None) -> int:
        from lead_scoring import data_pipeline

        return data_pipeline.model_input_step(Settings.from_env(), run_id)

    @task(outlets=[model_input_asset])
    def publish(run_id=None) -> dict:
        """Swap the run's five tables in together; updates the model_input asset."""
        from lead_scoring import data_pipeline

        return data_pipeline.publish_step(Settings.from_env(), run_id)

    @teardown
    def discard_scratch(run_id=None) -> None:
        """Drop what a failed run left behind; the published tables are never touched."""
        from lead_scoring import data_pipeline

        data_pipeline.discard_step(Settings.from_env(), run_id)

    # validate the export, load it, map city tiers, categorical levels and interactions,
    # build the model input, then publish all five tables at once.
    published = (
        validate()
        >> load()
        >> map_city_tier()
        >> map_categorical_levels()
        >> map_interactions()
        >> build_model_input()
        >> publish()
    )
    published >> discard_scratch()


data_pipeline_dag = lead_scoring_data_pipeline()
