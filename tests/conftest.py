"""Shared fixtures: an isolated LEAD_SCORING_HOME per test, the shared real data, an Airflow home."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = PROJECT_ROOT / "dags"

# Airflow reads its configuration when first imported, so its home is fixed for the whole
# session before any test imports it: a private temp dir, never the user's ~/airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lead-scoring-test-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
# Airflow's DAG processor and task runner put the DAGs folder (the dags-folder bundle) on sys.path, so
# the DAG files import their shared package dags/common as `common`: the tests load them the same way
if str(DAGS_DIR) not in sys.path:
    sys.path.append(str(DAGS_DIR))
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
for _var in ("LEAD_SCORING_HOME", "LEAD_SCORING_DB_URL", "MLFLOW_TRACKING_URI"):
    os.environ.pop(_var, None)  # tests never touch a developer's real stores


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LEAD_SCORING_HOME (staging db, mlflow db, mlruns/) for one test."""
    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def settings(home: Path):
    from lead_scoring.settings import Settings

    return Settings.from_env()


def skip_or_fail(reason: str) -> None:
    """Skip a test whose resource is missing; in CI (LEAD_SCORING_REQUIRE_ALL=1) fail it instead, so
    a CI that lost the real data or the PostgreSQL server goes red rather than green with skips."""
    if os.environ.get("LEAD_SCORING_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (LEAD_SCORING_REQUIRE_ALL=1: every test must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The shared CodePro leads; tests that need them skip (with the reason) when absent."""
    value = os.environ.get("LEAD_SCORING_REAL_DATA_DIR")
    if not value:
        skip_or_fail("LEAD_SCORING_REAL_DATA_DIR is not set (CI sets it to ../shared/data/codepro)")
    path = Path(value)
    if not (path / "leads_2021H2.csv").is_file():
        skip_or_fail(f"LEAD_SCORING_REAL_DATA_DIR={value} has no leads_2021H2.csv")
    return path


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database (SQLite in the session's AIRFLOW_HOME), migrated once."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return _AIRFLOW_HOME


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the lead-scoring CLI in-process; returns (exit status, stdout, stderr)."""
    from lead_scoring.cli import main

    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture):
    return lambda *args: run_cli(list(args), capsys)


def load_dag(file_name: str, attribute: str):  # noqa: ANN201 - an airflow.sdk DAG
    """The DAG object ``attribute`` of ``dags/file_name``, imported as the DAG processor would (by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"), DAGS_DIR / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)
