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
   policy ranks the day's leads among the version's production scores of the latest
   `LEAD_SCORING_POLICY_POOL` leads created before the day: point in time, so a rerun or a
   backfill gives the same flags and an ad-hoc `score --input` changes none), hot/warm/cold
   bucket and the three reasons that pushed each score most. When the registry's `challenger`
   alias names another version, it scores the same leads as a **shadow** (never acted on);
5. **write** them to `predictions` (role `champion` or `shadow`): a rerun or backfill of a day
   replaces its own rows; a new champion's scores are kept beside the old ones;
6. **outbox**: the day's scored leads, hottest first, to `$LEAD_SCORING_HOME/outbox/scored_YYYY-MM-DD.csv`
   (spreadsheet-safe: no cell starts a formula), the file a CRM import or the sales team picks up;
   a rerun of the day rewrites its file;
7. **monitor**: on the production leads of the last `LEAD_SCORING_DRIFT_WINDOW_DAYS` days (7),
   the share the policy flagged against the share it means to flag, the score distribution and
   per-feature drift (PSI past `LEAD_SCORING_DRIFT_LIMIT` plus a sampling allowance) against the
   profile saved with the model; recorded in `scoring_runs` and MLflow. Drift opens an **alarm**
   (table `alarms`: what moved, since when, the suggested action): this task **fails on the day
   it opens** so Airflow's alerting tells a person, and passes on the later days of the same
   alarm, which it records as open. The alarm closes when the drift ends or a champion trained
   on leads up to its first day serves. The scores are already written.

A task that fails for good mails the operators (`LEAD_SCORING_ALERT_EMAILS`, docs/alerts.md): a
verdict at once, a glitch after its last retry; the monitor also mails on the day its alarm closes.

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
from airflow.sdk import CronDataIntervalTimetable, dag, task, teardown
from common import alarm_mail, task_defaults

from lead_scoring.settings import Settings


@dag(
    dag_id="lead_scoring_inference_pipeline",
    # a data-interval timetable: each run covers one whole day [00:00, 24:00) UTC, so a run knows
    # exactly which leads are its own (the plain "@daily" cron trigger gives runs no interval)
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    # retry a glitch, fail a verdict at once, mail the operators when a task fails for good
    default_args=task_defaults(),
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
        """Scores with the champion (and the challenger as a shadow); returns the champion's version."""
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

    @task(on_success_callback=alarm_mail())  # a mail on the day its alarm closes
    def monitor(model_version: str, data_interval_start: Any = None, data_interval_end: Any = None) -> dict[str, Any]:
        """Fails loudly on the day a drift alarm opens."""
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
