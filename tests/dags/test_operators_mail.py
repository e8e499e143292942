"""The operators' notifier of dags/common on a hand-made Airflow context, through a real SMTP sink: the
monitor mails on the day its alarm closes and on no other passing day; a failure mails once per call."""

from __future__ import annotations

from types import SimpleNamespace

import pendulum
import pytest

from lead_scoring.errors import DriftDetectedError
from tests.mail_sink import mail_sink

DAG_ID = "lead_scoring_inference_pipeline"
CLOSED = "closed (v7, trained on leads up to 2021-12-09, serves); it had been open since 2021-12-05 (score)"


def context(day: str, task_id: str = "monitor", monitored: dict | None = None, exception=None) -> dict:
    ti = SimpleNamespace(
        dag_id=DAG_ID,
        task_id=task_id,
        run_id=f"scheduled__{day}T00:00:00+00:00",
        try_number=1,
        xcom_pull=lambda task_ids: monitored,
    )
    start = pendulum.parse(day)
    return {"ti": ti, "data_interval_start": start, "logical_date": start.add(days=1), "exception": exception}


@pytest.fixture
def sink(monkeypatch):
    with mail_sink() as (received, connection):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)
        monkeypatch.setenv("LEAD_SCORING_MLFLOW_URL", "https://mlflow.example.test")
        yield received


def test_the_day_an_alarm_closes_one_resolved_mail_and_none_on_the_other_days(sink):
    from common.mail import OperatorsMail

    closes = OperatorsMail(["ops@example.test"], event="alarm_closed")
    for day, state, line in [
        ("2021-12-06", "open", "open since 2021-12-05: score moved"),
        ("2021-12-07", "none", ""),
        ("2021-12-10", "closed", CLOSED),
        ("2021-12-11", "none", ""),
    ]:
        closes(context(day, monitored={"rows_scored": 300, "alarm_state": state, "alarm": line}))

    assert len(sink) == 1, [mail.subject for mail in sink]
    mail = sink[0]
    assert mail.to == ["ops@example.test"]
    assert (
        mail.subject == f"[lead scoring] {DAG_ID} 2021-12-10: resolved: v7, trained on leads up to 2021-12-09, serves"
    )
    assert CLOSED in mail.text and "https://mlflow.example.test/#/models/lead_scoring" in mail.text


def test_the_day_an_alarm_opens_the_failed_monitor_mails_once(sink):
    from common.mail import OperatorsMail

    fails = OperatorsMail(["ops@example.test"], event="failure")
    error = DriftDetectedError("input drift on 2021-12-05: alarm OPENED today: score moved (PSI 0.41). Action: x")

    fails(context("2021-12-05", exception=error))

    assert [mail.subject for mail in sink] == [f"[lead scoring] {DAG_ID} 2021-12-05: drift alarm opened"]
    assert "error: input drift on 2021-12-05: alarm OPENED today" in sink[0].text


def test_one_notifier_shared_by_a_dags_tasks_composes_each_mail_afresh(sink):
    """default_args hands every task the same notifier object: nothing of one mail sticks to the next."""
    from common.mail import OperatorsMail

    fails = OperatorsMail(["ops@example.test"], event="failure")
    fails(context("2021-12-01", task_id="validate", exception=DriftDetectedError("{{ ti.task_id }} first")))
    fails(context("2021-12-02", task_id="write", exception=ConnectionError("second")))

    assert [mail.subject.split(": ", 1)[0] for mail in sink] == [
        f"[lead scoring] {DAG_ID} 2021-12-01",
        f"[lead scoring] {DAG_ID} 2021-12-02",
    ]
    assert "{{ ti.task_id }} first" in sink[0].text  # sent as written, not rendered as a template
    assert "ConnectionError: second" in sink[1].text
