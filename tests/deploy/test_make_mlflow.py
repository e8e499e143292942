"""`make mlflow` prints where the UI is and which store it shows, never the store's password."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-store-pw"


def test_make_mlflow_never_shows_the_stores_password(tmp_path):
    """make echoes each command it runs (and ps shows it): the store reaches `mlflow ui` in its environment."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"postgresql://lead:{SECRET}@db/mlflow",
        "LEAD_SCORING_HOME": str(tmp_path),
    }
    dry = subprocess.run(["make", "-n", "mlflow"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    recipe = dry.stdout[dry.stdout.index('echo "MLflow UI:') :]  # the target's own lines, after `install`'s
    assert SECRET not in recipe
    assert 'MLFLOW_BACKEND_STORE_URI="$MLFLOW_TRACKING_URI"' in recipe and "--backend-store-uri" not in recipe
    # the store in its line is the redacted one, read by the project's settings
    store = subprocess.run(
        ["bash", "-c", 'python -c "$MLFLOW_STORE"'], env={**env, **make_exports()}, capture_output=True, text=True
    )
    assert store.stdout.strip() == "postgresql://lead:***@db/mlflow", store.stderr


def make_exports() -> dict[str, str]:
    """The Makefile's exported Python one-liners, as make hands them to its recipes."""
    text = (ROOT / "Makefile").read_text()
    pairs = [
        line.removeprefix("export ").split(" := ", 1)
        for line in text.splitlines()
        if line.startswith("export MLFLOW_") and " := " in line
    ]
    return {name: value for name, value in pairs if name in ("MLFLOW_STORE", "MLFLOW_LINK")} | {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
