"""The operators' mail as an Airflow notifier: Airflow's ``SmtpNotifier`` on the ``smtp_default``
connection (``AIRFLOW_CONN_SMTP_DEFAULT``), with the text composed by :mod:`lead_scoring.core.alerts`."""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

from airflow.sdk import BaseNotifier

from lead_scoring.core import alerts
from lead_scoring.settings import Settings, secrets_in

log = logging.getLogger(__name__)

Event = Literal["failure", "alarm_closed"]
SMTP_CONN_ID = "smtp_default"


class OperatorsMail(BaseNotifier):
    """One mail to ``to`` per event: a task that failed for good, or a drift alarm that closed.

    The text is composed at each call from the context (a fresh ``SmtpNotifier`` sends it), so nothing
    of one failure is left on this object for the next: a DAG's tasks share it through default_args.
    """

    template_fields = ()  # the text is composed, not templated: an error message may contain "{{"

    def __init__(self, to: list[str], *, event: Event, smtp_conn_id: str = SMTP_CONN_ID) -> None:
        super().__init__()
        self.to = list(to)
        self.event: Event = event
        self.smtp_conn_id = smtp_conn_id

    @staticmethod
    def recipients(settings: Settings) -> list[str]:
        return alerts.recipients(settings.alert_emails)

    def compose(self, context: Any) -> alerts.Mail | None:
        """The mail for this event and context, or None (the monitor's day closed no alarm)."""
        settings = Settings.from_env()
        ti = context["ti"]
        dag_id, task_id = str(ti.dag_id), str(ti.task_id)
        log_url = alerts.task_log_url(settings.airflow_url, dag_id, str(ti.run_id), task_id, ti.try_number)
        mlflow_url = alerts.mlflow_model_url(settings.mlflow_url, settings.model_name)
        day = _day(context)
        if self.event == "failure":
            return alerts.failure_mail(
                dag_id=dag_id,
                day=day,
                task_id=task_id,
                error=context.get("exception"),
                tries=int(ti.try_number or 1),
                log_url=log_url,
                mlflow_url=mlflow_url,
                secrets=secrets_in(os.environ),
            )
        monitored = ti.xcom_pull(task_ids=task_id) or {}
        if monitored.get("alarm_state") != "closed":
            return None
        return alerts.alarm_closed_mail(
            dag_id=dag_id, day=day, alarm_line=str(monitored.get("alarm", "")), log_url=log_url, mlflow_url=mlflow_url
        )

    def notify(self, context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        mail = self.compose(context)
        if mail is None:
            return
        log.info("mailing %s: %s", ", ".join(self.to), mail.subject)
        # notify, not __call__: the composed text is sent as it is, never rendered as a Jinja template
        SmtpNotifier(to=self.to, subject=mail.subject, html_content=mail.html, smtp_conn_id=self.smtp_conn_id).notify(
            context
        )


def _day(context: Any) -> str:
    """The day the run covers: its data interval's start (a daily run), else its logical date."""
    start = context.get("data_interval_start") or context.get("logical_date")
    return f"{start:%Y-%m-%d}" if start is not None else str(context["ti"].run_id)
