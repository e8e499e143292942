"""
### Lead scoring: daily inference

Every day, scores the leads created in the run's data interval with the registry's **champion**
(`models:/lead_scoring@champion`) and writes them to the `predictions` table in the staging
database, hottest first for sales:

1. **check input**: finds the day's file `leads_YYYY-MM-DD.csv` in the landing folder
   (`LEAD_SCORING_LANDING_DIR`; else every CSV there) and counts the leads created in the
   interval; with none, the rest of the run is skipped;
2. **validate** them (the label column is ignored when present): a bad file fails here with one
   plain message and nothing is written;
3. **transform** them with the data pipeline's steps (city tier, levels, interactions);
4. **score** them with the champion: probability, 0/1 under the model's decision policy (a rank
   policy ranks the day's leads among the version's latest `LEAD_SCORING_POLICY_POOL` scores),
   hot/warm/cold bucket and the three reasons that pushed each score most;
5. **write** them to `predictions`: a rerun or backfill of a day replaces its own rows; a new
   champion's scores are kept beside the old ones;
6. **outbox**: the day's scored leads, hottest first, to `$LEAD_SCORING_HOME/outbox/scored_YYYY-MM-DD.csv`
   (spreadsheet-safe: no cell starts a formula), the file a CRM import or the sales team picks up;
   a rerun of the day rewrites its file;
7. **monitor**: the share of leads at the policy's reference cut against the share it expects
   (a binomial tolerance for the day's size), score distribution and per-feature drift (PSI)
   against the profile saved with the model; recorded in `scoring_runs` and MLflow. A shifted
   share or drift past `LEAD_SCORING_DRIFT_LIMIT` **fails this task** so Airflow's alerting
   tells a person; the scores are already written.

A scheduled run covers one whole UTC day; a manual trigger covers the last whole day before it.
Backfill past days with `airflow backfill create --dag-id lead_scoring_inference_pipeline
--from-date 2021-12-01 --to-date 2021-12-31 --max-active-runs N`: Airflow limits a backfill's runs
by the backfill's own `max_active_runs` (the REST API's default is 10), not the DAG's, so give it
`LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS` (1 on SQLite; on PostgreSQL each run writes only its own
rows). Manual and scheduled runs are held to that setting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, ExceptionRetryPolicy, RetryAction, RetryRule, dag, task, teardown

from lead_scoring.errors import LeadScoringError, StagingBusyError
from lead_scoring.settings import Settings

# Every task is safe to rerun (each writes its own run's or interval's rows, idempotently), so a
# transient failure (the database, the MLflow server, a lost worker) is retried. A LeadScoringError
# is a verdict on the input or the model, the same on every try: it fails at once, except a staging
# write lock that stayed busy, which is worth the wait.
TASK_RETRIES = {
    "retries": 2,
    "retry_delay": pendulum.duration(minutes=5),
    "retry_policy": ExceptionRetryPolicy(
        rules=[
            RetryRule(exception=StagingBusyError, action=RetryAction.RETRY),
            RetryRule(exception=LeadScoringError, action=RetryAction.FAIL, reason="a verdict, not a glitch"),
        ]
    ),
}


@dag(
    dag_id="lead_scoring_inference_pipeline",
    # a data-interval timetable: each run covers one whole day [00:00, 24:00) UTC, so a run knows
    # exactly which leads are its own (the plain "@daily" cron trigger gives runs no interval)
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    default_args=TASK_RETRIES,
    # days at once (LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS): 1 on SQLite; on PostgreSQL a backfill's
    # days spread over the workers, each run writing only its own rows
    max_active_runs=Settings.from_env().inference_max_active_runs,
    doc_md=__doc__,
    tags=["lead_scoring", "inference"],
)
def lead_scoring_inference_pipeline() -> None:
    @task.short_circuit
    def check_input(data_interval_start: Any = None, data_interval_end: Any = None) -> int:
        """Leads created in the interval; 0 skips the rest of the run."""
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.check_input_step(Settings.from_env(), data_interval_start, data_interval_end)

    @task
    def validate(data_interval_start: Any = None, data_interval_end: Any = None) -> int:
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.validate_step(Settings.from_env(), data_interval_start, data_interval_end)

    @task
    def transform(data_interval_start: Any = None) -> int:
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.transform_step(Settings.from_env(), data_interval_start)

    @task
    def score(data_interval_start: Any = None) -> str:
        """Scores with the champion; returns its version."""
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.score_step(Settings.from_env(), data_interval_start)

    @task
    def write(data_interval_start: Any = None) -> int:
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.write_step(Settings.from_env(), data_interval_start)

    @task
    def outbox(data_interval_start: Any = None) -> str:
        """The day's scored leads, hottest first, as a spreadsheet-safe CSV in the outbox."""
        from lead_scoring.pipelines import inference as inference_pipeline

        return inference_pipeline.outbox_step(Settings.from_env(), data_interval_start)

    @task
    def monitor(model_version: str, data_interval_start: Any = None, data_interval_end: Any = None) -> dict[str, Any]:
        """Fails loudly when the leads drifted away from the training leads."""
        from lead_scoring.pipelines import inference as inference_pipeline

        monitored = inference_pipeline.monitor_step(
            Settings.from_env(), data_interval_start, data_interval_end, model_version
        )
        return dataclasses.asdict(monitored)

    @teardown
    def discard_scratch(data_interval_start: Any = None) -> None:
        from lead_scoring.pipelines import inference as inference_pipeline

        inference_pipeline.discard_step(Settings.from_env(), data_interval_start)

    # check what landed, validate and transform it, score it with the champion, write the scores,
    # leave the day's file in the outbox, then monitor the batch against the training leads.
    version = check_input() >> validate() >> transform() >> score()
    written = version >> write()
    written >> outbox() >> monitor(version) >> discard_scratch()


inference_pipeline_dag = lead_scoring_inference_pipeline()
