"""The environment variables this project reads that are not settings, declared here so docs/configuration.md
lists them and a test can tell a new variable nobody declared (tests/test_settings_doc.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """A variable read outside the settings object: where, its default and what it is for."""

    name: str
    default: str
    read_by: str
    what: str


ELSEWHERE: tuple[Variable, ...] = (
    Variable(
        "LEAD_SCORING_USER",
        "the OS user",
        "the registry moves (adapters/mlflow/registry.py)",
        "who a registry move is recorded as; read when the move is made, 1 to 250 printable characters",
    ),
    Variable(
        "LEAD_SCORING_SCORER_USERNAME",
        "unset",
        "the online scorer (adapters/mlflow/serving.py)",
        "the scorer's login to an MLflow server with basic-auth (a credential: never held by the settings)",
    ),
    Variable(
        "LEAD_SCORING_SCORER_PASSWORD",
        "unset",
        "the online scorer (adapters/mlflow/serving.py)",
        "the scorer's password to that server (a credential: never held by the settings, masked in messages)",
    ),
    Variable(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        "unset",
        "Airflow (dags/common/mail.py)",
        "Airflow's `smtp_default` connection the mails go through (JSON or URI; [alerts.md](alerts.md))",
    ),
    Variable(
        "LEAD_SCORING_UI_SHOTS",
        "a folder of the run",
        "scripts/stack_test.sh",
        "where the stack test keeps its UI screenshots",
    ),
    Variable(
        "LEAD_SCORING_REAL_DATA_DIR",
        "unset",
        "the tests",
        "the shared CodePro leads the `real_data` tests read ([testing.md](testing.md)); unset: they are skipped",
    ),
    Variable(
        "LEAD_SCORING_REQUIRE_ALL",
        "unset",
        "the tests",
        "`1`: a `real_data` test without its data fails instead of being skipped",
    ),
)
