"""
### Lead scoring: feedback (the closed loop)

Every day, takes the outcomes the CRM exported (did the lead complete an application?) and
learns from them, in the staging database (`LEAD_SCORING_DB_URL`):

1. **find outcomes**: the interval's file `outcomes_YYYY-MM-DD.csv` in the outcomes folder
   (`LEAD_SCORING_OUTCOMES_DIR`, default `$LEAD_SCORING_HOME/landing/outcomes`): `lead_id`,
   `app_complete_flag` (0/1), optionally `outcome_at`; none: the rest of the run is skipped;
2. **ingest**: validated (a bad file fails here with one plain message and nothing is written),
   then upserted into `outcomes`: a changed label for a lead, the newer one wins; outcomes of leads
   never scored are counted and kept aside in `unmatched_outcomes`;
3. **recompute performance**: for every model version and ISO week of the leads' `created_date`,
   leads scored, leads labelled and, from `LEAD_SCORING_MIN_LABELLED_LEADS` (200) labelled leads
   on, realized AUC, precision, recall, F1 and flagged share against the version's own flags, in
   `model_performance` and MLflow (experiment `lead_scoring-performance`);
4. **check targets**: **fails** when the latest complete week with enough labels is
   `below_target` (a figure not above `LEAD_SCORING_TARGET_*`), so Airflow's alerting tells a
   person; the tables are written either way;
5. **append labelled**: the scored leads that now have an outcome join `model_input`, one row per
   lead;
6. **retraining needed**: new or changed labels, or a week below target; otherwise the publish
   is skipped;
7. **publish**: updates the `lead_scoring_model_input` asset with the reason, which triggers the
   training pipeline (the reason becomes the training run's `retrain_reason` tag).

A run covers one whole UTC day; a rerun or backfill of a day leaves the tables as its first run
left them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task
from common import task_defaults

from lead_scoring.schema import MODEL_INPUT_ASSET_URI, RETRAIN_REASON
from lead_scoring.settings import Settings

model_input_asset = Asset(name="lead_scoring_model_input", uri=MODEL_INPUT_ASSET_URI)


@dag(
    dag_id="lead_scoring_feedback_pipeline",
    # a data-interval timetable, as the inference DAG: a run owns one whole UTC day's outcome file
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    # retry a glitch, fail a verdict at once, mail the operators when a task fails for good
    default_args=task_defaults(),
    max_active_runs=1,
    doc_md=__doc__,
    tags=["lead_scoring", "feedback"],
)
def lead_scoring_feedback_pipeline() -> None:
    @task.short_circuit
    def find_outcomes(data_interval_start: Any = None) -> bool:
        """Whether the day's outcome file landed; no file skips the rest of the run."""
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return feedback_pipeline.find_outcomes_step(Settings.from_env(), data_interval_start)

    @task
    def ingest(data_interval_start: Any = None) -> dict[str, Any]:
        """Validate the outcomes and upsert them (the newer label wins); returns the counts."""
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return dataclasses.asdict(feedback_pipeline.ingest_step(Settings.from_env(), data_interval_start))

    @task
    def recompute_performance(data_interval_end: Any = None) -> dict[str, Any]:
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return dataclasses.asdict(feedback_pipeline.performance_step(Settings.from_env(), data_interval_end))

    @task
    def check_targets(data_interval_end: Any = None) -> dict[str, Any]:
        """Fails loudly when the latest complete week is below target."""
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return dataclasses.asdict(feedback_pipeline.check_targets_step(Settings.from_env(), data_interval_end))

    @task
    def append_labelled() -> dict[str, Any]:
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return dataclasses.asdict(feedback_pipeline.append_step(Settings.from_env()))

    @task.short_circuit
    def retraining_needed(appended: dict[str, int], data_interval_end: Any = None) -> str:
        """The reason to republish model_input; empty skips the publish."""
        from lead_scoring.pipelines import feedback as feedback_pipeline

        return feedback_pipeline.retrain_reason_step(Settings.from_env(), appended, data_interval_end)

    @task(outlets=[model_input_asset])
    def publish(reason: str, outlet_events: Any = None) -> str:
        """Updates the model_input asset (the training pipeline runs), carrying the reason."""
        outlet_events[model_input_asset].extra = {RETRAIN_REASON: reason}
        return reason

    # find and ingest the outcomes, recompute the realized figures, then check them against the
    # targets and, beside that, grow model_input and publish it when there is a reason to retrain.
    performance = find_outcomes() >> ingest() >> recompute_performance()
    performance >> check_targets()
    appended = append_labelled()
    performance >> appended
    publish(retraining_needed(appended))  # type: ignore[arg-type]  # XComArgs stand in for the values


feedback_pipeline_dag = lead_scoring_feedback_pipeline()
