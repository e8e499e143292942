"""A person is told: the DAGs mail the operators through Airflow's SmtpNotifier and the smtp_default
connection, one mail per failure, to LEAD_SCORING_ALERT_EMAILS; unset, no mail and the DAGs run the same."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import load_dag
from tests.mail_sink import mail_sink

pytestmark = pytest.mark.slow

DAG_ID = "lead_scoring_inference_pipeline"


def run_day_with_a_file_that_is_not_a_lead_export(home, monkeypatch):
    landing = home / "landing"
    landing.mkdir()
    (landing / "leads_2021-12-01.csv").write_text("order_id,amount\n1,9.50\n2,3.10\n")
    monkeypatch.setenv("LEAD_SCORING_LANDING_DIR", str(landing))
    dag = load_dag(f"{DAG_ID}.py", "inference_pipeline_dag")
    # a manual run at 2021-12-02 covers the last whole day: 2021-12-01
    return dag.test(logical_date=pd.Timestamp("2021-12-02", tz="UTC").to_pydatetime())


def test_a_bad_export_sends_exactly_one_mail_naming_the_dag_and_the_day(airflow_db, home, monkeypatch):
    with mail_sink() as (received, connection):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)
        monkeypatch.setenv("LEAD_SCORING_ALERT_EMAILS", "ops@example.test")
        monkeypatch.setenv("LEAD_SCORING_AIRFLOW_URL", "https://airflow.example.test")

        run = run_day_with_a_file_that_is_not_a_lead_export(home, monkeypatch)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed", states
    assert len(received) == 1, [mail.subject for mail in received]
    mail = received[0]
    assert mail.to == ["ops@example.test"]
    assert DAG_ID in mail.subject and "2021-12-01" in mail.subject
    assert "error: " in mail.text and "What to do:" in mail.text  # the CLI's line, then the next step
    assert f"https://airflow.example.test/dags/{DAG_ID}/runs/" in mail.text  # the failed task's log


def test_without_recipients_no_mail_is_sent_and_the_run_is_the_same(airflow_db, home, monkeypatch):
    monkeypatch.delenv("LEAD_SCORING_ALERT_EMAILS", raising=False)
    with mail_sink() as (received, connection):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)

        run = run_day_with_a_file_that_is_not_a_lead_export(home, monkeypatch)

    assert run.state == "failed"
    assert received == []
