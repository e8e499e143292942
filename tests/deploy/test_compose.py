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
import time
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


SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
    "REDIS_PASSWORD",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_SECRET_KEY",
    "SCORER_PASSWORD",
)


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
    assert scorer["command"][:2] == ["lead-scoring", "serve"]
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
    for name in LONG_RUNNING:  # redis and mlflow hold a password too now
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
        "POSTGRES_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_FERNET_KEY REDIS_PASSWORD "
        "MLFLOW_ADMIN_PASSWORD MLFLOW_SECRET_KEY SCORER_PASSWORD "
        "(docs/production.md, Secrets and access: how to create each)\n"
    )


def test_the_secrets_check_names_empty_secrets_and_a_broken_fernet_key():
    from cryptography.fernet import Fernet

    real = {
        "POSTGRES_PASSWORD": "pw-" + os.urandom(8).hex(),
        "AIRFLOW_ADMIN_PASSWORD": "admin-" + os.urandom(8).hex(),
        "AIRFLOW_JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "REDIS_PASSWORD": "redis-" + os.urandom(8).hex(),
        "MLFLOW_ADMIN_PASSWORD": 'mlflow "admin" \\ ' + os.urandom(8).hex(),  # any character: not in a URL
        "MLFLOW_SECRET_KEY": os.urandom(16).hex(),
        "SCORER_PASSWORD": "scorer-" + os.urandom(8).hex(),
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
    mlflow = resolved["services"]["mlflow"]["environment"]
    assert mlflow["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert mlflow["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres/mlflow")


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


# -- secrets never on a command line; Redis and MLflow behind a login (issue #23, item 4) ----------------


def test_the_secrets_check_refuses_url_unsafe_and_too_short_passwords():
    """A `@` or `/` in a password compose writes into a URL breaks the URL; MLflow refuses a short admin password."""
    from cryptography.fernet import Fernet

    real = {name: "x" * 16 for name in SECRETS} | {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()}
    assert check_secrets(real).returncode == 0
    bad = check_secrets(
        {**real, "POSTGRES_PASSWORD": "p@ss/word", "REDIS_PASSWORD": "a b", "MLFLOW_ADMIN_PASSWORD": "short"}
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "not URL-safe (letters, digits, - _ . ~ only): POSTGRES_PASSWORD REDIS_PASSWORD;" in bad.stderr
    assert "shorter than the 12 characters MLflow requires: MLFLOW_ADMIN_PASSWORD" in bad.stderr


def distinct_secrets() -> dict[str, str]:
    """A value per secret that no other text contains (URL-safe, 12+ characters, a real Fernet key)."""
    from cryptography.fernet import Fernet

    values = {name: f"{name.lower().replace('_', '-')}-{os.urandom(6).hex()}" for name in SECRETS}
    return values | {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()}


@pytest.fixture(scope="module")
def with_secrets(tmp_path_factory) -> tuple[dict, dict[str, str]]:
    """The compose file resolved with distinct secrets: where each one lands can be seen."""
    parser = shutil.which("docker-compose")
    if parser is None:
        skip_or_fail("docker-compose (the compose parser) is not installed; CI installs it")
    secrets = distinct_secrets()
    env_file = tmp_path_factory.mktemp("env") / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in {**example_env(), **secrets}.items()))
    result = subprocess.run(
        [parser, "-f", str(COMPOSE), "--env-file", str(env_file), "config"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout), secrets


def volume_target(volume: str | dict) -> str:
    """A mount's path in the container, as docker-compose 1.x (`src:target:mode`) or 2.x (a mapping) writes it."""
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def command_lines(service: dict) -> list[str]:
    """What a service puts on a command line: its entrypoint, command and healthcheck."""
    parts = [service.get("entrypoint"), service.get("command"), service.get("healthcheck", {}).get("test")]
    return [part if isinstance(part, str) else " ".join(part) for part in parts if part]


def test_no_secret_is_on_any_command_line(with_secrets):
    """`ps` shows every process's arguments to every user of the host: secrets go in the environment or a file."""
    resolved, secrets = with_secrets
    for name, service in resolved["services"].items():
        for line in command_lines(service):
            leaked = [var for var, value in secrets.items() if value in line]
            assert not leaked, f"{name}'s command line holds {leaked}: {line[:120]}"
    # and the file as written: no secret variable is interpolated into a command
    for name, service in raw_compose()["services"].items():
        for line in command_lines(service):
            assert not re.search(r"\$\{(" + "|".join(SECRETS) + ")", line), f"{name}: {line[:120]}"


def test_redis_requires_its_password_and_celery_uses_it(with_secrets):
    resolved, secrets = with_secrets
    services = resolved["services"]
    redis = services["redis"]
    assert redis["environment"]["REDIS_PASSWORD"] == secrets["REDIS_PASSWORD"]
    assert redis["environment"]["REDISCLI_AUTH"] == secrets["REDIS_PASSWORD"]  # the healthcheck logs in
    conf = redis["environment"]["REDIS_CONF"]
    assert redis["command"] == ["sh", "/opt/redis_start.sh", "docker-entrypoint.sh", "redis-server", conf]
    assert [volume_target(v) for v in redis["volumes"]] == ["/opt/redis_start.sh"]
    assert "./scripts/redis_start.sh:/opt/redis_start.sh:ro" in raw_compose()["services"]["redis"]["volumes"]
    # without the password redis-cli prints NOAUTH and exits 0: only a PONG is healthy
    assert "grep -q PONG" in " ".join(redis["healthcheck"]["test"])
    for name in ("airflow-worker", "airflow-scheduler", "airflow-apiserver"):
        broker = services[name]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
        assert broker == f"redis://:{secrets['REDIS_PASSWORD']}@redis:6379/0", name


def test_redis_start_writes_a_password_with_quotes_and_backslashes(tmp_path):
    """The script compose runs Redis with, on a real redis-server: the password is the password."""
    server, client = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or client is None:
        skip_or_fail("redis-server is not installed (apt-get install redis-server)")
    password = 'a "quoted" \\ back\'slash $HOME %s'
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    conf = tmp_path / "redis.conf"
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": password, "REDIS_CONF": str(conf)}
    started = subprocess.run(
        [
            "sh",
            str(ROOT / "scripts" / "redis_start.sh"),
            server,
            str(conf),
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "yes",
            "--dir",
            str(tmp_path),
            "--logfile",
            str(tmp_path / "redis.log"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    assert password not in " ".join(started.args)
    assert conf.stat().st_mode & 0o077 == 0  # only its owner reads it

    def ping(auth: str | None) -> str:
        login = {"REDISCLI_AUTH": auth} if auth is not None else {}
        for _ in range(50):
            done = subprocess.run(
                [client, "-p", port, "ping"], env={"PATH": "/usr/bin:/bin", **login}, capture_output=True, text=True
            )
            if "Connection refused" not in done.stdout + done.stderr:
                return done.stdout.strip()
            time.sleep(0.1)
        return "no answer"

    try:
        assert ping(password) == "PONG"
        assert ping(None).startswith("NOAUTH")
        assert ping("wrong-password").startswith("NOAUTH")  # the login failed, so did the ping
    finally:
        subprocess.run(
            [client, "-p", port, "shutdown", "nosave"],
            env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": password},
            capture_output=True,
        )


def test_mlflow_requires_a_login_and_the_workers_have_one(with_secrets):
    resolved, secrets = with_secrets
    services = resolved["services"]
    mlflow = services["mlflow"]
    command = mlflow["command"] if isinstance(mlflow["command"], str) else " ".join(mlflow["command"])
    assert "--app-name basic-auth" in command
    assert "--backend-store-uri" not in command  # MLFLOW_BACKEND_STORE_URI, from the environment
    env = mlflow["environment"]
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == secrets["MLFLOW_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == secrets["MLFLOW_SECRET_KEY"]
    assert secrets["POSTGRES_PASSWORD"] in env["MLFLOW_BACKEND_STORE_URI"]
    # the auth config the image carries: its users on their own volume, never among the served artifacts
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/opt/project/scripts/mlflow_auth.ini"
    assert "scripts/mlflow_auth.ini" in (ROOT / "Dockerfile").read_text()
    import configparser

    ini = configparser.ConfigParser()
    ini.read(ROOT / "scripts" / "mlflow_auth.ini")
    assert ini["mlflow"]["database_uri"] == "sqlite:////opt/mlflow-auth/basic_auth.db"
    assert "admin_password" not in ini["mlflow"]  # from the environment only
    assert [volume_target(v) for v in mlflow["volumes"]] == ["/opt/mlflow-artifacts", "/opt/mlflow-auth"]
    for name in ("airflow-worker", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        worker = services[name]["environment"]
        assert worker["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name  # no user:password@: it gets printed
        assert worker["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
        assert worker["MLFLOW_TRACKING_PASSWORD"] == secrets["MLFLOW_ADMIN_PASSWORD"], name


def test_the_auth_extra_is_pinned():
    """`mlflow server --app-name basic-auth` imports Flask-WTF: the `auth` extra, pinned like everything else."""
    assert '"mlflow[auth]>=' in (ROOT / "pyproject.toml").read_text()
    pins = dict(line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert pins["Flask-WTF"] and pins["WTForms"]


def test_airflow_init_writes_passwords_json_whatever_the_password(tmp_path):
    """The admin's password with a `"` or a `\\` (printf's quoting broke on both) is still valid JSON, and it."""
    script = raw_compose()["services"]["airflow-init"]["command"][-1]
    target = "/opt/airflow/auth/passwords.json"
    assert target in script
    lines = [line for line in script.splitlines() if target in line or line.startswith(("set ", "umask"))]
    runnable = "\n".join(lines).replace("$$", "$").replace(target, str(tmp_path / "passwords.json"))
    password = 'p"a\\ss %s {}'
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "AIRFLOW_ADMIN_USER": "admin",
        "AIRFLOW_ADMIN_PASSWORD": password,
    }
    done = subprocess.run(["bash", "-c", runnable], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads((tmp_path / "passwords.json").read_text()) == {"admin": password}
    assert (tmp_path / "passwords.json").stat().st_mode & 0o077 == 0


def test_the_secrets_check_refuses_mail_without_a_server_or_with_a_placeholder_password():
    """Mail is optional (no recipients: the SMTP lines are unused); on, it needs a server, a sender and,
    with a login, a real password that fits the JSON connection."""
    from cryptography.fernet import Fernet

    good = {name: "a-long-random-secret-123" for name in SECRETS} | {
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()
    }
    assert check_secrets(good | {"SMTP_PASSWORD": "<placeholder>"}).returncode == 0  # mail off
    on = good | {"LEAD_SCORING_ALERT_EMAILS": "ops@example.test", "SMTP_USER": "leadscore"}
    refused = check_secrets(on | {"SMTP_PASSWORD": "<placeholder>"})
    assert refused.returncode == 1
    assert "not set or not usable: SMTP_HOST SMTP_FROM SMTP_PASSWORD" in refused.stderr
    fine = on | {"SMTP_HOST": "smtp.example.test", "SMTP_FROM": "leadscore@example.test", "SMTP_PASSWORD": "s3cret"}
    assert check_secrets(fine).returncode == 0, check_secrets(fine).stderr
    assert check_secrets(fine | {"SMTP_PASSWORD": 'a"b'}).returncode == 1


def test_the_workers_read_the_smtp_connection_from_the_environment(resolved):
    import json

    worker = resolved["services"]["airflow-worker"]["environment"]
    connection = json.loads(worker["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert connection["conn_type"] == "smtp" and connection["port"] == 587
    assert worker["LEAD_SCORING_ALERT_EMAILS"] == ""  # the example sends no mail


def test_every_airflow_service_opens_its_metadata_database_with_an_installed_driver(resolved):
    """Airflow 3.3 opens the metadata database asynchronously too; left to itself it derives asyncpg from
    the sync URL, which the pins do not install, and `airflow db migrate` fails."""
    import importlib.util

    airflow_services = [
        name
        for name, service in resolved["services"].items()
        if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in (service.get("environment") or {})
    ]
    assert "airflow-worker" in airflow_services and "airflow-scheduler" in airflow_services
    for name in airflow_services:
        url = resolved["services"][name]["environment"].get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "")
        assert url.startswith("postgresql+psycopg://") and url.endswith("@postgres/airflow"), name
    assert importlib.util.find_spec("psycopg") is not None  # the async driver named, installed by the pins
