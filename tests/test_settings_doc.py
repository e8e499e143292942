"""docs/configuration.md is generated from the settings declaration, and every variable the project
reads is declared (#32): a setting, or one of the few read elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from lead_scoring.settings import Settings
from lead_scoring.settings import doc as settings_doc
from lead_scoring.settings.elsewhere import ELSEWHERE
from lead_scoring.settings.rules import variable

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration.md"
# where the project reads or sets its variables: the package, the DAGs, the scripts and tools, the
# deployment files, and the tests (which read two of their own)
READERS = ("lead_scoring", "dags", "scripts", "tools", "bench", "tests")
FILES = ("docker-compose.yaml", ".env.example", "Makefile", "Dockerfile")
# a name that ends in "_" is a family written short in prose (`LEAD_SCORING_TARGET_*`)
NAME = re.compile(r"\bLEAD_SCORING_[A-Z0-9_]*[A-Z0-9]\b(?!\*)")


def declared() -> set[str]:
    return {variable(Settings, name) for name in Settings.model_fields} | {v.name for v in ELSEWHERE}


def read_by_the_project() -> dict[str, str]:
    """Every LEAD_SCORING_* name in the project's code and deployment files, with one file it is in."""
    found: dict[str, str] = {}
    paths = [p for folder in READERS for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".yaml", "")]
    paths += [ROOT / name for name in FILES if (ROOT / name).is_file()]
    for path in paths:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        for name in NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_committed_page_is_what_the_declaration_generates():
    page = PAGE.read_text(encoding="utf-8")
    assert settings_doc.BEGIN in page and settings_doc.END in page
    assert page == settings_doc.render(page), "docs/configuration.md differs from the declaration: run `make docs`"


def test_the_page_lists_every_setting_once_with_its_meaning():
    page = PAGE.read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([A-Z_0-9]+)`", row).group(1) for row in rows]
    assert sorted(names) == sorted(declared()) and len(names) == len(set(names))
    drift = next(row for row in rows if row.startswith("| `LEAD_SCORING_DRIFT_WINDOW_DAYS`"))
    assert drift.split(" | ")[1:4] == ["integer", "7", "at least 1, at most 36,600"]
    assert "| `MLFLOW_TRACKING_URI` | URL | `sqlite:///$LEAD_SCORING_HOME/mlflow.db` |" in page


def test_every_variable_the_project_reads_is_declared():
    read = read_by_the_project()
    assert {"LEAD_SCORING_HOME", "LEAD_SCORING_SCORER_PASSWORD", "LEAD_SCORING_REAL_DATA_DIR"} <= set(read)
    undeclared = {name: where for name, where in read.items() if name not in declared()}
    assert not undeclared, f"read but not declared (lead_scoring/settings/): {undeclared}"


def test_a_page_changed_by_hand_is_found_and_rewritten(tmp_path):
    page = tmp_path / "configuration.md"
    text = PAGE.read_text(encoding="utf-8")
    page.write_text(text.replace("| 0.25 |", "| 0.3 |"))
    assert settings_doc.main([str(page), "--check"]) == 1
    assert settings_doc.main([str(page)]) == 0 and page.read_text() == text
    assert settings_doc.main([str(page), "--check"]) == 0
