"""MLflow behind its login, as docker-compose.yaml runs it: the project's auth config on a real
`mlflow server --app-name basic-auth`. A request without the login is refused; the project's client
gets in with the variables the workers have (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD);
no secret is on a command line of the server's processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = 'admin "pw" \\ ' + os.urandom(6).hex()  # 12+ characters, and what printf-style quoting breaks on
SECRET_KEY = os.urandom(16).hex()

pytestmark = pytest.mark.slow


def status(url: str, method: str = "GET", auth: str | None = None, body: bytes | None = None) -> int:
    import base64

    request = urllib.request.Request(url, method=method, data=body, headers={"Content-Type": "application/json"})
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("mlflow-login")
    ini = (ROOT / "scripts" / "mlflow_auth.ini").read_text()
    (tmp / "auth.ini").write_text(
        ini.replace("sqlite:////opt/mlflow-auth/basic_auth.db", f"sqlite:///{tmp / 'basic_auth.db'}")
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp / "auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET_KEY,
    }
    mlflow = Path(sys.executable).with_name("mlflow")
    args = [str(mlflow), "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--workers", "1", "--artifacts-destination", str(tmp / "artifacts")]
    process = subprocess.Popen(
        args, env=env, cwd=tmp, start_new_session=True, stdout=subprocess.DEVNULL, stderr=(tmp / "server.log").open("w")
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not (_up(port) and status(f"{base}/health") == 200):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _up(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_request_without_the_login_is_refused(server):
    alias = f"{server}/api/2.0/mlflow/registered-models/alias"
    assert status(f"{alias}?name=lead_scoring&alias=champion") == 401
    move = b'{"name": "lead_scoring", "alias": "champion", "version": "1"}'
    assert status(alias, "POST", body=move) == 401  # nobody moves champion without the login
    assert status(f"{server}/") == 401  # the UI neither
    assert status(f"{alias}?name=lead_scoring&alias=champion", auth="admin:password1234") == 401  # the old default
    assert status(f"{server}/api/2.0/mlflow/experiments/search?max_results=1", auth=f"admin:{PASSWORD}") == 200


def test_the_projects_client_gets_in_with_the_workers_variables(server, tmp_path, monkeypatch):
    from lead_scoring.adapters.mlflow.tracking import Tracking
    from lead_scoring.settings import Settings

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": server})
    store = Tracking(settings).store
    experiment = store.experiment_id()  # a write: creating the experiment
    assert store.experiment_link() == f"{server}/#/experiments/{experiment}/runs?workflowType=machine_learning"


def test_no_secret_is_on_a_command_line_of_the_server(server):
    port = server.rsplit(":", 1)[1]
    lines = []
    for proc in Path("/proc").iterdir():
        try:
            lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    ours = [line for line in lines if f"--port {port}" in line or "mlflow.server" in line]
    assert ours, "the server's processes are not where ps looks"
    assert not [line for line in lines if PASSWORD in line or SECRET_KEY in line]
