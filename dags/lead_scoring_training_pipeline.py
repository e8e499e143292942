"""
### Lead scoring: training pipeline

Trains a LightGBM lead scorer on the staging table `model_input`, tracks the run in MLflow
(experiment `lead_scoring`) and lets the new version serve only when it earns it:

1. **check input**: `model_input` has the right columns and enough leads of both classes
   (`LEAD_SCORING_MIN_TRAINING_LEADS`, `LEAD_SCORING_MIN_CONVERSIONS`); otherwise the run fails
   here and nothing is logged or registered;
2. **train**: the newest 20% of leads by `created_date` are held out for validation (never a
   random split); the last 3 whole months are backtested (each scored by a model fitted only on
   the leads before it) and the decision policy whose worst month has the most slack to the
   targets is chosen; the model is then refit on all leads. Parameters, a data fingerprint,
   validation and `backtest_*` metrics, the backtest table and plot, the drift profile and the
   model (one pyfunc: features + booster + decision policy) go to a new MLflow run;
3. **validation report**: ROC, precision-recall, confusion matrix, feature importance, calibration
   and cumulative-gain plots of the validation leads, and the sales tables (gain by top X%, bucket
   conversion), logged to the same run;
4. **register**: a new version of the registered model `lead_scoring`, alias `challenger`
   (a rerun of this DAG run reuses its version);
5. **promote**: the version becomes `champion` when it is no worse than the current champion on
   the same leads at equal information (the run's saved comparison leads: its validation leads
   newer than the champion's training data, its recipe refitted to the champion's cut-off), even
   if both miss a target; with no champion, only if it meets AUC > 0.75, precision > 0.65 and
   recall > 0.75 on the validation leads **and in its worst backtest month**. Not promoted, it
   stays `challenger`. The decision and its reasons are tags on the version (docs/replay.md).

Runs whenever the data pipeline publishes new `model_input` (the `lead_scoring_model_input`
asset), or the feedback pipeline adds newly labelled leads to it or finds a week below target
(its reason is the training run's `retrain_reason` tag), and on demand from the UI. **Params**:
`until` (optional `YYYY-MM-DD`: train on leads up to that day only).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task
from common import task_defaults

from lead_scoring.schema import CHAMPION_ASSET_URI, MODEL_INPUT_ASSET_URI
from lead_scoring.settings import Settings

model_input_asset = Asset(name="lead_scoring_model_input", uri=MODEL_INPUT_ASSET_URI)
champion_asset = Asset(name="lead_scoring_champion", uri=CHAMPION_ASSET_URI)


@dag(
    dag_id="lead_scoring_training_pipeline",
    schedule=[model_input_asset],
    start_date=pendulum.datetime(2021, 7, 1, tz="UTC"),
    catchup=False,
    # retry a glitch, fail a verdict at once, mail the operators when a task fails for good
    default_args=task_defaults(),
    max_active_runs=1,
    doc_md=__doc__,
    tags=["lead_scoring", "training"],
    params={
        "until": Param(
            None,
            type=["null", "string"],
            description="Train on leads created up to this day (YYYY-MM-DD); empty: all leads.",
        )
    },
)
def lead_scoring_training_pipeline() -> None:
    @task
    def check_input(params: Any = None, dag_run: Any = None) -> dict[str, Any]:
        """Schema, size and class balance of model_input."""
        from lead_scoring.pipelines import training as training_pipeline

        checked = training_pipeline.check_input_step(Settings.from_env(), params["until"], str(dag_run.run_after))
        return dataclasses.asdict(checked)

    @task
    def train(params: Any = None, run_id: Any = None, triggering_asset_events: Any = None) -> str:
        """Returns the MLflow run id; the feedback loop's reason for retraining, if any, becomes a run tag."""
        from lead_scoring.pipelines import training as training_pipeline

        return training_pipeline.train_step(
            Settings.from_env(), params["until"], airflow_run=run_id, asset_events=triggering_asset_events
        )

    @task
    def validation_report(mlflow_run_id: str) -> dict[str, Any]:
        """Plots and the sales view of the validation leads, logged to the training run."""
        from lead_scoring.pipelines import training as training_pipeline

        return training_pipeline.validation_report_step(Settings.from_env(), mlflow_run_id)

    @task
    def register(mlflow_run_id: str, run_id: Any = None) -> str:
        """Returns the registered version."""
        from lead_scoring.pipelines import training as training_pipeline

        return training_pipeline.register_step(Settings.from_env(), mlflow_run_id, airflow_run=run_id)

    @task(outlets=[champion_asset])
    def promote(version: str) -> dict[str, Any]:
        """The gate: champion only when the version earns it."""
        from lead_scoring.pipelines import training as training_pipeline

        return dataclasses.asdict(training_pipeline.promote_step(Settings.from_env(), version))

    # check the input, train and log a run, report on its validation leads, register it, then gate the promotion.
    # (An upstream task's XComArg stands in for its value until run time: mypy sees the type it stands for.)
    mlflow_run = train()
    check_input() >> mlflow_run
    version = register(mlflow_run)  # type: ignore[arg-type]
    validation_report(mlflow_run) >> version  # type: ignore[arg-type]
    promote(version)  # type: ignore[arg-type]


training_pipeline_dag = lead_scoring_training_pipeline()
