"""scripts/stack_test.sh (make stack-test): its checks can fail, and it kills whole process groups."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stack_test.sh"


def function(name: str) -> str:
    """The text of one shell function of the script, from `name() {` to its closing `}`."""
    text = SCRIPT.read_text()
    found = re.search(rf"^{name}\(\) \{{[^\n]*\n.*?^\}}\n", text, re.M | re.S)
    assert found, f"scripts/stack_test.sh has no function {name}()"
    return found.group(0)


def run_check(condition: str) -> subprocess.CompletedProcess:
    script = "\n".join(
        [
            "set -euo pipefail",
            'log() { echo "$*"; }',
            function("check"),
            f"check 'the condition' {condition}",
            "echo went on",
        ]
    )
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True)


def test_a_check_that_does_not_hold_fails_the_script():
    failed = run_check('[ "" -gt 19000 ]')  # an empty count (the query failed) fails too
    assert failed.returncode == 1
    assert "CHECK FAILED: the condition" in failed.stdout and "went on" not in failed.stdout
    assert run_check("[ 5 -gt 19000 ]").returncode == 1


def test_a_check_that_holds_goes_on():
    passed = run_check("[ 20000 -gt 19000 ]")
    assert passed.returncode == 0 and passed.stdout.splitlines() == ["check: the condition", "went on"]


def test_no_check_is_an_and_list_that_set_e_ignores():
    """`[ a ] && [ b ]` as a statement never fails the script when `a` is false (set -e ignores it)."""
    joined = SCRIPT.read_text().replace("\\\n", " ")  # a statement continued over lines is one statement
    statements = [line.strip() for line in joined.splitlines() if not line.strip().startswith("#")]
    assert not [line for line in statements if re.match(r"^\[.*\]\s*&&\s*\[", line)]
    assert not [line for line in statements if re.fullmatch(r"\[ [^;]* \]", line)]  # a bare test: use check


def test_services_start_in_their_own_process_group_and_are_killed_as_one():
    """The Celery worker's serve-logs (and MLflow's workers) are children: killing the leader alone left them."""
    assert "setsid " in function("start")
    assert 'kill -TERM -- "-$pid"' in function("teardown") and 'kill -KILL -- "-$pid"' in function("teardown")
    assert "processes left behind" in function("teardown")
    body = SCRIPT.read_text().split("# -- MLflow tracking server", 1)[1]
    assert not re.search(r"&\s*$", body, re.M), "start background services with start(), not a bare &"


# -- no password or token on a command line; MLflow's login on and checked (issue #23, item 4) ----------

SECRET_VARIABLES = (
    "ADMIN_PASSWORD",
    "TOKEN",
    "MLFLOW_ADMIN_PASSWORD",
    "REDIS_PASSWORD",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "REDISCLI_AUTH",
)
# any other variable named like a credential is one too (the scorer's login, a mail sink's password)
SECRET_NAME = r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|TOKEN|SECRET|_AUTH)[A-Za-z0-9_]*"


def statements(text: str) -> list[str]:
    """The script's commands, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def secrets_on_command_lines(text: str) -> list[str]:
    """Statements that pass a secret variable's value as a program's argument.

    A value may go into a variable (`NAME=$SECRET`, `export NAME=...`: the environment, which only the
    process's owner reads) or through bash's builtin printf into a pipe or a file; nowhere else.
    """
    found = []
    for statement in statements(text):
        rest = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*=(\"[^\"]*\"|\S*)", " ", statement)  # assignments
        rest = re.sub(r"\bprintf\b[^|>]*", " ", rest)  # bash's builtin: no process, no arguments to see
        if re.search(r"\$\{?(" + "|".join((*SECRET_VARIABLES, SECRET_NAME)) + r")\b", rest):
            found.append(statement)
    return found


def test_no_password_or_token_is_a_programs_argument():
    """ps shows every process's arguments to every user of the host (curl -d, -H, ui_check --airflow-token)."""
    assert secrets_on_command_lines(SCRIPT.read_text()) == []
    # the rule sees what it is for
    assert secrets_on_command_lines('curl -H "Authorization: Bearer $TOKEN" "$API"') != []
    assert secrets_on_command_lines('redis-server --requirepass "$REDIS_PASSWORD"') != []
    assert secrets_on_command_lines('curl -u "scorer:$LEAD_SCORING_SCORER_PASSWORD" "$SCORER"') != []
    assert secrets_on_command_lines('export URL="redis://:$REDIS_PASSWORD@host"\nprintf "%s" "$TOKEN" >f') == []


def test_the_stack_runs_mlflow_and_redis_with_their_logins():
    text = SCRIPT.read_text()
    assert '"$BIN/mlflow" server --app-name basic-auth' in text
    assert "MLFLOW_BACKEND_STORE_URI=" in text and "--backend-store-uri" not in text
    assert "export MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=$MLFLOW_ADMIN_PASSWORD" in text
    assert 'AIRFLOW__CELERY__BROKER_URL="redis://:$REDIS_PASSWORD@' in text
    assert "sh scripts/redis_start.sh" in text
    for what in ("to read champion without a login", "to move champion without a login", "a wrong password"):
        assert f'refused "{what}"' in text


def run_refused(status: str) -> subprocess.CompletedProcess:
    """The script's refused() with curl answering ``status``."""
    script = "\n".join(
        [
            "set -euo pipefail",
            'log() { echo "$*"; }',
            function("check"),
            'has_word() { [[ " $1 " == *" $2 "* ]]; }',
            f"curl() {{ printf '{status}'; }}",
            function("refused"),
            "refused 'a request without a login' http://mlflow/api",
            "echo went on",
        ]
    )
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True)


def test_an_mlflow_that_answers_without_a_login_fails_the_stack_test():
    assert run_refused("401").returncode == 0 and "went on" in run_refused("403").stdout
    answered = run_refused("200")
    assert (
        answered.returncode == 1 and "CHECK FAILED: MLflow refuses a request without a login (200)" in answered.stdout
    )
    assert run_refused("000").returncode == 1  # no answer at all is no refusal either


def ui_check_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ui_check", SCRIPT.parent / "ui_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ui_check_takes_its_secrets_from_the_environment_or_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path))  # were the option taken, its stores are here
    ui_check = ui_check_module()
    header = ui_check.mlflow_login_header({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": 'p"w:\\'})
    assert header == {"Authorization": "Basic YWRtaW46cCJ3Olw="}  # base64 of admin:p"w:\
    assert ui_check.mlflow_login_header({}) == {}
    token = tmp_path / "airflow.token"
    token.write_text("eyJ.jwt.sig\n")
    assert ui_check.airflow_token(token, {}) == "eyJ.jwt.sig"
    assert ui_check.airflow_token(None, {"AIRFLOW_TOKEN": "from-env"}) == "from-env"
    assert ui_check.airflow_token(None, {}) is None
    with pytest.raises(SystemExit) as refused:  # the token is no longer an argument, not even abbreviated
        ui_check.main(["--out", str(tmp_path), "--airflow-token", "eyJ.jwt.sig"])
    assert refused.value.code == 2


def test_every_mlflow_api_call_carries_the_login():
    """MLflow runs behind its login in the stack: a bare curl to its API gets a 401 and an empty body,
    which the script's JSON parsing then fails on. Only mlflow_api() (the login from a file) and the
    refused() checks may call it."""
    text = SCRIPT.read_text()
    bare = [
        line.strip()
        for line in text.splitlines()
        if re.search(r"curl\b.*(MLFLOW_TRACKING_URI|MLFLOW_API|MLFLOW_PORT)[^\n]*/api/", line)
        and "-H @" not in line
        and not line.lstrip().startswith("refused ")
    ]
    assert bare == []
