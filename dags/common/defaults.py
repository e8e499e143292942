"""The default_args of every task: retry a glitch, fail a verdict at once, and mail the operators when
a task fails for good (``LEAD_SCORING_ALERT_EMAILS``; unset: no mail, the DAGs parse and run the same)."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from common.mail import OperatorsMail
from lead_scoring.errors import LeadScoringError, StagingBusyError
from lead_scoring.settings import Settings

# Every task is safe to rerun (each writes its own run's or interval's rows, idempotently), so a
# transient failure (the database, the MLflow server, a lost worker) is retried. A LeadScoringError
# is a verdict on the input or the model, the same on every try: it fails at once, except a staging
# write lock that stayed busy, which is worth the wait.
RETRIES = 2
RETRY_DELAY = pendulum.duration(minutes=5)


def _retry_policy() -> ExceptionRetryPolicy:
    return ExceptionRetryPolicy(
        rules=[
            RetryRule(exception=StagingBusyError, action=RetryAction.RETRY),
            RetryRule(exception=LeadScoringError, action=RetryAction.FAIL, reason="a verdict, not a glitch"),
        ]
    )


def task_defaults() -> dict[str, Any]:
    """A DAG's ``default_args``. ``on_failure_callback`` runs once per task that fails for good: on the
    first try for a verdict, after the last retry for a glitch (Airflow calls ``on_retry_callback``,
    which is not set, on the tries before), so each failure sends one mail."""
    defaults: dict[str, Any] = {"retries": RETRIES, "retry_delay": RETRY_DELAY, "retry_policy": _retry_policy()}
    to = OperatorsMail.recipients(Settings.from_env())
    if to:
        defaults["on_failure_callback"] = [OperatorsMail(to, event="failure")]
    return defaults


def alarm_mail() -> list[OperatorsMail]:
    """The monitor task's ``on_success_callback``: one mail on the day its drift alarm closes (the day it
    opens, the task fails: that is the failure mail)."""
    to = OperatorsMail.recipients(Settings.from_env())
    return [OperatorsMail(to, event="alarm_closed")] if to else []
