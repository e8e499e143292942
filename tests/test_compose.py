"""docker-compose.yaml, checked by a real compose parser (docker-compose, from Debian's packages).

There is no Docker engine on these machines; `docker-compose config` parses, validates against
the compose schema and interpolates without one. CI installs it; elsewhere the test skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yaml"
LONG_RUNNING = {
    "postgres",
    "redis",
    "mlflow",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def resolved() -> dict:
    parser = shutil.which("docker-compose")
    if parser is None:
        skip_or_fail("docker-compose (the compose parser) is not installed; CI installs it")
    result = subprocess.run(
        [parser, "-f", str(COMPOSE), "--env-file", str(ROOT / ".env.example"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_every_service_of_the_topology_is_there(resolved):
    assert set(resolved["services"]) == LONG_RUNNING | {"airflow-init"}


def test_every_long_running_service_has_a_healthcheck(resolved):
    for name in LONG_RUNNING:
        assert "healthcheck" in resolved["services"][name], name


def test_the_dags_get_their_stores_from_configuration_only(resolved):
    worker = resolved["services"]["airflow-worker"]["environment"]
    assert worker["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["LEAD_SCORING_DB_URL"].startswith("postgresql+psycopg2://")
    assert worker["LEAD_SCORING_DB_URL"].endswith("@postgres/staging")
    assert worker["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    command = resolved["services"]["mlflow"]["command"]
    assert "@postgres/mlflow" in (command if isinstance(command, str) else " ".join(command))


def test_no_secret_is_written_in_the_files():
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|FERNET_KEY):", line):
            assert "${" in line, f"a secret must come from .env: {line.strip()}"
    example = (ROOT / ".env.example").read_text()
    for line in example.splitlines():
        if re.match(r"\w*(PASSWORD|SECRET|FERNET_KEY)\w*=", line):
            assert "<" in line, f".env.example must hold placeholders only: {line}"
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text()
