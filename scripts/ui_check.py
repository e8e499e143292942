"""What a person sees: headless Chromium opens the MLflow runs view and the Airflow DAG list, saves a
screenshot of each and fails when a page does not show what it should (a run, the DAGs).

    python scripts/ui_check.py --out DIR --airflow URL --airflow-token-file FILE

The MLflow page is the link the project prints (``registry.experiment_link``, from
MLFLOW_TRACKING_URI); the check waits, bounded, for the training run's readable name and its
dataset in the runs table, and fails on MLflow's GenAI view. Chromium (Debian's package) is driven
over its DevTools protocol on loopback; it runs headless without network extras and is ended on exit.

No secret is an argument (ps shows arguments to every user of the host): Airflow's token is read
from a file (or AIRFLOW_TOKEN), MLflow's login from MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD
(the clients' variables), sent as a header to the MLflow page only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("ui_check")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # else Chromium calls home, on a closed network
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,950",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
WAIT_SECONDS = 90
DAG_IDS = (
    "lead_scoring_data_pipeline",
    "lead_scoring_training_pipeline",
    "lead_scoring_inference_pipeline",
    "lead_scoring_feedback_pipeline",
)


class UICheckError(Exception):
    pass


class Browser:
    """One headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise UICheckError("chromium is not installed (apt-get install chromium)")
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.socket = None
        self._stack = contextlib.ExitStack()
        self.next_id = 0
        try:
            self._connect(profile / "DevToolsActivePort")
        except BaseException:
            self.close()
            raise

    def _connect(self, port_file: Path) -> None:
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise UICheckError("chromium did not open its DevTools port within 30 s")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        from websockets.sync.client import connect

        self.socket = self._stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024))
        self.call("Page.enable")
        self.call("Network.enable")

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive between the answers; skip them
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise UICheckError(f"{method}: {message['error']}")
                return message.get("result", {})

    def text(self) -> str:
        result = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
        return str(result.get("result", {}).get("value", ""))

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._stack.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def mlflow_login_header(env: Mapping[str, str]) -> dict[str, str]:
    """The HTTP basic-auth header of MLflow's login (basic-auth app) from the clients' variables; {} without one."""
    user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
    if not user or password is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def airflow_token(token_file: Path | None, env: Mapping[str, str]) -> str | None:
    """Airflow's JWT from ``token_file`` (its first line), else $AIRFLOW_TOKEN; None without either."""
    if token_file is not None:
        return token_file.read_text().strip() or None
    return env.get("AIRFLOW_TOKEN") or None


def check_page(browser: Browser, url: str, shot: Path, expected: list[str], forbidden: list[str]) -> None:
    """Open ``url``, wait (bounded) until every expected text shows, save a screenshot either way."""
    browser.call("Page.navigate", url=url)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        text = browser.text()
        missing = [want for want in expected if want not in text]
        wrong = [bad for bad in forbidden if bad in text]
        if not missing and not wrong:
            time.sleep(1.0)  # let the table finish drawing before the picture
            browser.screenshot(shot)
            log.info("ok: %s shows %s (%s)", url, ", ".join(expected), shot)
            return
        if time.monotonic() > deadline:
            browser.screenshot(shot)
            problem = f"missing {missing}" if missing else f"shows {wrong}"
            raise UICheckError(f"{url}: after {WAIT_SECONDS} s the page {problem} (see {shot})")
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[ui-check] %(message)s")
    # no abbreviations: `--airflow-token JWT` must fail, not pass as --airflow-token-file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshots")
    parser.add_argument("--airflow", help="the Airflow api-server's base URL (its UI)")
    parser.add_argument(
        "--airflow-token-file",
        type=Path,
        help="a file holding a JWT of Airflow's auth manager, set as the UI's cookie (else $AIRFLOW_TOKEN)",
    )
    parser.add_argument("--dag", action="append", default=[], help="a DAG id the DAG list must show")
    args = parser.parse_args(argv)
    dags = args.dag or list(DAG_IDS)

    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    settings = Settings.from_env()
    link = registry.experiment_link(settings)
    if "/runs?workflowType=machine_learning" not in link:
        log.error("no experiment %r on %s", settings.experiment_name, settings.redacted_tracking_uri())
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    # a Chromium child can still write to its profile while the folder is removed: the checks have
    # their verdict by then, so a leftover file is not a failure (the stack test's temp root goes anyway)
    with tempfile.TemporaryDirectory(prefix="ui-check-chromium-", ignore_cleanup_errors=True) as profile:
        browser = None
        try:
            browser = Browser(Path(profile))
            # MLflow's login, for its page (and the API calls the page makes) only
            browser.call("Network.setExtraHTTPHeaders", headers=mlflow_login_header(os.environ))
            # a training run by its name and its dataset; MLflow's GenAI view would say "Traces"/"Judges"
            check_page(
                browser,
                link,
                args.out / "mlflow_runs.png",
                expected=["train to ", "model_input to "],
                forbidden=["Detect issues"],
            )
            if args.airflow:
                browser.call("Network.setExtraHTTPHeaders", headers={})
                token = airflow_token(args.airflow_token_file, os.environ)
                if token:
                    browser.call("Network.setCookie", name="_token", value=token, url=args.airflow)
                check_page(browser, f"{args.airflow.rstrip('/')}/dags", args.out / "airflow_dags.png", dags, [])
        except UICheckError as error:
            log.error("%s", error)
            return 1
        finally:
            if browser is not None:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
