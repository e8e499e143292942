"""What the operators' mail says, pure: one mail per failed task (a verdict at once, a glitch after its
last retry) and one per drift alarm that closes.

The DAGs' notifiers (``dags/common``) hand over what Airflow knows of the failure (the DAG, the day, the
task, the exception, the try) and the configured base URLs; the text is composed here so it can be read
and tested without Airflow. The body says what went wrong in the project's own words (the line the CLI
prints for the same error), what to do, and where to look. It carries no secret: the error line is
redacted like the CLI's, and the links are built from the configured base URLs only.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from lead_scoring.console import printable
from lead_scoring.errors import (
    BelowTargetError,
    ConfigurationError,
    DriftDetectedError,
    InputDataError,
    InsufficientDataError,
    InvalidArgumentError,
    LeadScoringError,
    MissingTableError,
    ModelNotFoundError,
    StagingBusyError,
    TrackingUnavailableError,
)
from lead_scoring.redaction import redact_text

SUBJECT_PREFIX = "[lead scoring]"
_RERUN = "then clear the failed task in Airflow to rerun the day"

# What a person does about each verdict, most specific class first (a subclass before its base).
_ACTIONS: tuple[tuple[type[LeadScoringError], str], ...] = (
    (
        InputDataError,
        "fix or replace the file (the line above says what is wrong with it; nothing was written), " + _RERUN,
    ),
    (
        ModelNotFoundError,
        "the registry has no champion to serve: train one (`lead-scoring train`, or the training DAG) "
        "or point the alias back with `lead-scoring rollback`, " + _RERUN,
    ),
    (
        DriftDetectedError,
        "follow the alarm's action above; the day's scores were written, and the later days of the same "
        "alarm pass (a mail follows when it closes)",
    ),
    (
        BelowTargetError,
        "read the week's figures in the model_performance table and the MLflow experiment "
        "lead_scoring-performance; retrain on the newer leads or adjust the targets with the sales team",
    ),
    (MissingTableError, "run the step that writes the table first (the data DAG), " + _RERUN),
    (InsufficientDataError, "wait for more labelled leads or lower the minimum setting named above"),
    (TrackingUnavailableError, "bring the MLflow tracking server back, " + _RERUN),
    (StagingBusyError, "another run held the staging database's write lock; " + _RERUN + " once it is free"),
    (ConfigurationError, "correct the setting named above in the workers' environment, " + _RERUN),
    (InvalidArgumentError, "correct the value named above (the run's configuration), " + _RERUN),
)
_GLITCH_ACTION = (
    "not a verdict on the data or the model: read the task log for the cause (database, MLflow server, "
    "worker), " + _RERUN + " once it is fixed"
)


@dataclass(frozen=True)
class Mail:
    """One operators' mail: a subject line and a plain-text body."""

    subject: str
    body: str

    @property
    def html(self) -> str:
        """The body as the HTML part SMTP notifiers send (preformatted, escaped)."""
        return f"<pre>{html.escape(self.body)}</pre>"


def recipients(raw: str) -> list[str]:
    """The addresses of ``LEAD_SCORING_ALERT_EMAILS`` (comma-separated; blanks ignored; empty: no mail)."""
    return [address.strip() for address in raw.split(",") if address.strip()]


def error_line(error: BaseException | None, secrets: Iterable[str] = ()) -> str:
    """The one line the CLI prints for ``error`` (``error: ...``), redacted; a glitch is named by its type."""
    if error is None:
        return "error: the task failed without an exception (killed, timed out or lost its worker)"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, LeadScoringError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return redact_text(f"error: {printable(text)}", secrets)


def what_to_do(error: BaseException | None) -> str:
    """The next step for a person, by the kind of failure."""
    for kind, action in _ACTIONS:
        if isinstance(error, kind):
            return action
    return _GLITCH_ACTION


def task_log_url(airflow_url: str, dag_id: str, run_id: str, task_id: str, try_number: int | None) -> str:
    """The task's log in the Airflow UI (Airflow 3's route), or "" without a base URL."""
    if not airflow_url:
        return ""
    tried = f"?try_number={try_number}" if try_number else ""
    return f"{airflow_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}{tried}"


def mlflow_model_url(mlflow_url: str, model_name: str) -> str:
    """The registered model's page in the MLflow UI (its versions, the champion, their runs), or ""."""
    if not mlflow_url:
        return ""
    return f"{mlflow_url.rstrip('/')}/#/models/{quote(model_name, safe='')}"


def failure_mail(
    *,
    dag_id: str,
    day: str,
    task_id: str,
    error: BaseException | None,
    tries: int,
    log_url: str,
    mlflow_url: str,
    secrets: Iterable[str] = (),
) -> Mail:
    """The mail of a task that failed for good: a verdict on its first try, a glitch on its last (``tries``)."""
    line = error_line(error, secrets)
    verdict = isinstance(error, LeadScoringError) and not isinstance(error, StagingBusyError)
    if isinstance(error, DriftDetectedError):
        headline = "drift alarm opened"
    elif verdict:
        headline = f"{task_id} failed"
    else:
        headline = f"{task_id} failed after {_tries(tries)}"
    why = (
        "a verdict on the input or the model: it fails at once, a retry would say the same"
        if verdict
        else f"it failed on its {_tries(tries)}"
        if tries == 1
        else f"it failed on each of its {_tries(tries)}"
    )
    body = [
        f"{dag_id}, day {day}: task {task_id} failed ({why}).",
        "",
        "What went wrong:",
        f"  {line}",
        "",
        "What to do:",
        f"  {what_to_do(error)}",
        "",
        *_links(log_url, mlflow_url),
    ]
    return Mail(subject=f"{SUBJECT_PREFIX} {dag_id} {day}: {headline}", body="\n".join(body).rstrip() + "\n")


def alarm_closed_mail(*, dag_id: str, day: str, alarm_line: str, log_url: str, mlflow_url: str) -> Mail:
    """The mail of a drift alarm that closed on ``day`` (``alarm_line``: the monitor's line for it)."""
    reason = alarm_line.removeprefix("closed ").split(";", 1)[0].strip().strip("()")
    body = [
        f"{dag_id}, day {day}: the drift alarm is resolved.",
        "",
        f"  {printable(alarm_line)}",
        "",
        "Nothing to do: the monitor records the day as usual; a new drift opens a new alarm (and a new mail).",
        "",
        *_links(log_url, mlflow_url),
    ]
    return Mail(
        subject=f"{SUBJECT_PREFIX} {dag_id} {day}: resolved: {printable(reason)}",
        body="\n".join(body).rstrip() + "\n",
    )


def _tries(tries: int) -> str:
    return "1 try" if tries == 1 else f"{tries} tries"


def _links(log_url: str, mlflow_url: str) -> list[str]:
    lines = []
    if log_url:
        lines.append(f"Task log (Airflow): {log_url}")
    if mlflow_url:
        lines.append(f"Model and its runs (MLflow): {mlflow_url}")
    if not lines:
        lines.append("Set LEAD_SCORING_AIRFLOW_URL and LEAD_SCORING_MLFLOW_URL for links to the log and the model.")
    return lines
