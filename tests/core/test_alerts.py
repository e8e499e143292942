"""The operators' mail says what went wrong in the CLI's words, what to do and where to look: a verdict
and a glitch read differently, a closed alarm says it is resolved, and no secret is ever in it."""

from __future__ import annotations

from lead_scoring.core.alerts import (
    alarm_closed_mail,
    error_line,
    failure_mail,
    mlflow_model_url,
    recipients,
    task_log_url,
    what_to_do,
)
from lead_scoring.errors import DriftDetectedError, InputDataError, ModelNotFoundError, StagingBusyError

DAG = "lead_scoring_inference_pipeline"
LOG = "https://airflow.example.test/dags/lead_scoring_inference_pipeline/runs/manual__x/tasks/validate?try_number=1"
MODEL = "https://mlflow.example.test/#/models/lead_scoring"


def test_a_bad_file_mail_names_the_dag_the_day_the_error_and_the_next_step():
    mail = failure_mail(
        dag_id=DAG,
        day="2021-12-01",
        task_id="validate",
        error=InputDataError("leads_2021-12-01.csv: not a lead export (missing columns: created_date, lead_id)"),
        tries=1,
        log_url=LOG,
        mlflow_url=MODEL,
    )

    assert mail.subject == "[lead scoring] lead_scoring_inference_pipeline 2021-12-01: validate failed"
    assert mail.body == (
        "lead_scoring_inference_pipeline, day 2021-12-01: task validate failed (a verdict on the input or the "
        "model: it fails at once, a retry would say the same).\n"
        "\n"
        "What went wrong:\n"
        "  error: leads_2021-12-01.csv: not a lead export (missing columns: created_date, lead_id)\n"
        "\n"
        "What to do:\n"
        "  fix or replace the file (the line above says what is wrong with it; nothing was written), then clear "
        "the failed task in Airflow to rerun the day\n"
        "\n"
        f"Task log (Airflow): {LOG}\n"
        f"Model and its runs (MLflow): {MODEL}\n"
    )
    assert mail.html.startswith("<pre>") and "&lt;" not in mail.html


def test_a_glitch_mail_says_it_failed_on_every_try():
    mail = failure_mail(
        dag_id=DAG,
        day="2021-12-01",
        task_id="write",
        error=ConnectionError("server closed the connection unexpectedly\nDETAIL: more"),
        tries=3,
        log_url="",
        mlflow_url="",
    )

    assert mail.subject == "[lead scoring] lead_scoring_inference_pipeline 2021-12-01: write failed after 3 tries"
    assert "(it failed on each of its 3 tries)" in mail.body
    assert "  error: ConnectionError: server closed the connection unexpectedly\n" in mail.body
    assert "DETAIL" not in mail.body  # the one line
    assert "not a verdict on the data or the model: read the task log" in mail.body
    assert mail.body.endswith(
        "Set LEAD_SCORING_AIRFLOW_URL and LEAD_SCORING_MLFLOW_URL for links to the log and the model.\n"
    )


def test_a_busy_lock_is_a_glitch_after_its_retries_not_a_verdict():
    mail = failure_mail(
        dag_id=DAG,
        day="2021-12-01",
        task_id="write",
        error=StagingBusyError("locked"),
        tries=3,
        log_url="",
        mlflow_url="",
    )
    assert mail.subject.endswith("write failed after 3 tries")
    assert "another run held the staging database's write lock" in mail.body


def test_the_day_an_alarm_opens_the_mail_says_so():
    error = DriftDetectedError("input drift on 2021-12-05: alarm OPENED today: score moved (PSI 0.41). Action: x")
    mail = failure_mail(
        dag_id=DAG, day="2021-12-05", task_id="monitor", error=error, tries=1, log_url="", mlflow_url=""
    )
    assert mail.subject == "[lead scoring] lead_scoring_inference_pipeline 2021-12-05: drift alarm opened"
    assert "  error: input drift on 2021-12-05: alarm OPENED today" in mail.body
    assert "a mail follows when it closes" in mail.body


def test_a_closed_alarm_mail_is_a_resolution():
    line = "closed (v7, trained on leads up to 2021-12-09, serves); it had been open since 2021-12-05 (score)"
    mail = alarm_closed_mail(dag_id=DAG, day="2021-12-12", alarm_line=line, log_url="", mlflow_url=MODEL)

    assert mail.subject == (
        "[lead scoring] lead_scoring_inference_pipeline 2021-12-12: resolved: v7, trained on leads up to "
        "2021-12-09, serves"
    )
    assert mail.body == (
        "lead_scoring_inference_pipeline, day 2021-12-12: the drift alarm is resolved.\n"
        "\n"
        f"  {line}\n"
        "\n"
        "Nothing to do: the monitor records the day as usual; a new drift opens a new alarm (and a new mail).\n"
        "\n"
        f"Model and its runs (MLflow): {MODEL}\n"
    )


def test_no_secret_reaches_a_mail():
    error = ModelNotFoundError("no champion in postgresql://lead:s3cret-pw@db/mlflow (token abcd1234)")
    mail = failure_mail(
        dag_id=DAG,
        day="2021-12-01",
        task_id="score",
        error=error,
        tries=1,
        log_url="",
        mlflow_url="",
        secrets=["abcd1234"],
    )
    assert "s3cret-pw" not in mail.body and "abcd1234" not in mail.body
    assert "postgresql://lead:***@db/mlflow" in mail.body
    assert "`lead-scoring rollback`" in what_to_do(error)


def test_a_control_character_in_an_error_is_shown_not_sent():
    assert error_line(InputDataError("bad \x1b[2J file")) == "error: bad \\x1b[2J file"
    assert error_line(None).startswith("error: the task failed without an exception")


def test_recipients_and_links():
    assert recipients("") == []
    assert recipients(" ops@example.test, ,sales@example.test ") == ["ops@example.test", "sales@example.test"]
    assert task_log_url("", DAG, "r", "t", 1) == ""
    assert task_log_url("https://af.test/", DAG, "scheduled__2021-12-02T00:00:00+00:00", "validate", 2) == (
        "https://af.test/dags/lead_scoring_inference_pipeline/runs/scheduled__2021-12-02T00%3A00%3A00%2B00%3A00"
        "/tasks/validate?try_number=2"
    )
    assert mlflow_model_url("", "lead_scoring") == ""
    assert mlflow_model_url("https://mlflow.test/", "lead_scoring") == "https://mlflow.test/#/models/lead_scoring"


def test_a_glitch_on_a_task_without_retries_reads_as_one_try():
    mail = failure_mail(
        dag_id=DAG, day="2021-12-01", task_id="write", error=OSError("x"), tries=1, log_url="", mlflow_url=""
    )
    assert mail.subject.endswith("write failed after 1 try")
    assert "(it failed on its 1 try)" in mail.body
