"""docker-compose.yaml, checked by a real compose parser (docker-compose, from Debian's packages).

There is no Docker engine on these machines; `docker-compose config` parses, validates against
the compose schema and interpolates without one. CI installs it; elsewhere the test skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
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
    "scorer",
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


SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "SCORER_PASSWORD")


def raw_compose() -> dict:
    """The compose file as written (no parser needed): its structure, before interpolation."""
    return yaml.safe_load(COMPOSE.read_text())


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def test_every_service_of_the_topology_is_there(resolved):
    assert set(resolved["services"]) == LONG_RUNNING | {"airflow-init", "check-secrets"}


def test_mlflow_is_reachable_on_the_compose_network_only():
    """Whoever reaches MLflow can move champion, and the workers unpickle champion: no published port."""
    services = raw_compose()["services"]
    assert "ports" not in services["mlflow"]
    assert services["mlflow"]["expose"] == ["5000"]
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"airflow-apiserver"}  # the UI and REST API, behind Airflow's login


def test_the_scorer_serves_on_the_compose_network_behind_a_login_following_the_registry(resolved):
    scorer = resolved["services"]["scorer"]
    assert "ports" not in scorer and scorer["expose"] == ["8000"]
    assert scorer["environment"]["LEAD_SCORING_SCORER_PASSWORD"] == example_env()["SCORER_PASSWORD"]
    assert scorer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert scorer["command"][:3] == ["python", "-m", "lead_scoring.adapters.mlflow.serving"]
    assert scorer["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert "localhost:8000/health" in " ".join(scorer["healthcheck"]["test"])


def test_every_secret_is_required():
    """${VAR} or ${VAR:-default} would start the stack on an empty secret (a blank Fernet key stores
    connections unencrypted; a blank JWT secret makes every process its own)."""
    text = COMPOSE.read_text()
    uses = re.findall(r"\$\{(" + "|".join(SECRETS) + r")(:\?|\}|:-|-)", text)
    assert {name for name, _ in uses} == set(SECRETS)
    assert {how for _, how in uses} == {":?"}


def test_every_service_holding_a_secret_waits_for_the_secrets_check(resolved):
    services = resolved["services"]
    for name in LONG_RUNNING - {"redis", "mlflow"}:  # mlflow waits for postgres, which waits for the check
        assert services[name]["depends_on"]["check-secrets"]["condition"] == "service_completed_successfully", name
    assert "postgres" in services["mlflow"]["depends_on"]


def test_compose_refuses_an_empty_secret(tmp_path):
    parser = shutil.which("docker-compose")
    if parser is None:
        pytest.skip("docker-compose (the compose parser) is not installed; CI installs it")
    env = {**example_env(), "AIRFLOW_FERNET_KEY": ""}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    result = subprocess.run(
        [parser, "-f", str(COMPOSE), "--env-file", str(env_file), "config"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode != 0
    assert "set AIRFLOW_FERNET_KEY in .env" in result.stderr


def check_secrets(env: dict[str, str]) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # the image's python has cryptography; so has the venv's
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "check_secrets.sh")], env={"PATH": path, **env}, capture_output=True, text=True
    )


def test_the_secrets_check_refuses_the_placeholders_with_one_line():
    result = check_secrets(example_env())
    assert result.returncode == 1
    assert result.stderr == (
        "error: refusing to start, secrets in .env still the <...> placeholder of .env.example: "
        "POSTGRES_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_FERNET_KEY "
        "(README, Running in production: how to create each)\n"
    )


def test_the_secrets_check_names_empty_secrets_and_a_broken_fernet_key():
    from cryptography.fernet import Fernet

    real = {
        "POSTGRES_PASSWORD": "pw-" + os.urandom(8).hex(),
        "AIRFLOW_ADMIN_PASSWORD": "admin-" + os.urandom(8).hex(),
        "AIRFLOW_JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
    }
    ok = check_secrets(real)
    assert ok.returncode == 0, ok.stderr
    empty = check_secrets({**real, "AIRFLOW_JWT_SECRET": ""})
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1
    assert "not set: AIRFLOW_JWT_SECRET (" in empty.stderr
    broken = check_secrets({**real, "AIRFLOW_FERNET_KEY": "not-a-key"})
    assert broken.returncode == 1 and "not a Fernet key: AIRFLOW_FERNET_KEY" in broken.stderr


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
