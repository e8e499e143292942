"""Every documented LEAD_SCORING_* setting given nonsense: exit 2 and one line naming it, or it works (#29, 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lead_scoring.errors import ConfigurationError
from lead_scoring.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented() -> list[str]:
    """The variables of the settings table (`_TARGET_PRECISION` is short for LEAD_SCORING_TARGET_PRECISION)."""
    found: list[str] = []
    for line in DOCS.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        for name in re.findall(r"`(LEAD_SCORING_[A-Z_]+|_[A-Z_]+)`", cell):
            found.append(name if name.startswith("LEAD_SCORING_") else "LEAD_SCORING" + name)
    return found


def every_setting() -> list[str]:
    """The documented variables and every one the settings declaration reads (some are not in the table)."""
    from lead_scoring.settings.rules import variable

    declared = [variable(Settings, name) for name in Settings.model_fields]
    declared = [name for name in declared if name.startswith("LEAD_SCORING_")]
    return list(dict.fromkeys([*documented(), *declared]))


NONSENSE = ("-1", "0", "1e12", "1000000000000", "<folder>", "<file>", "x" * 100_000)


def given(value: str, tmp_path: Path) -> str:
    if value == "<folder>":
        (tmp_path / "a-folder").mkdir(exist_ok=True)
        return str(tmp_path / "a-folder")
    if value == "<file>":
        (tmp_path / "a-file").write_text("{}")
        return str(tmp_path / "a-file")
    return value


def test_the_table_is_read():
    names = documented()
    assert "LEAD_SCORING_HOME" in names and "LEAD_SCORING_TARGET_PRECISION" in names and len(names) >= 25
    assert set(names) <= set(every_setting())


@pytest.mark.parametrize("value", NONSENSE, ids=["negative", "zero", "1e12", "10^12", "folder", "file", "100k"])
@pytest.mark.parametrize("variable", every_setting())
def test_nonsense_is_one_line_naming_the_variable_or_works(variable, value, tmp_path, monkeypatch, cli):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LEAD_SCORING_HOME", str(home))
    monkeypatch.setenv(variable, given(value, tmp_path))
    missing = tmp_path / "no-such-export.csv"
    status, out, err = cli("prepare", "--input", missing)  # reads every setting, the mappings, the input
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and len(lines[0]) < 400, err[:2000]
    assert variable in lines[0] or str(missing) in lines[0], lines[0]
    if variable == "LEAD_SCORING_USER":
        from lead_scoring.adapters.mlflow.registry import actor

        try:
            assert actor()
        except ConfigurationError as exc:
            assert str(exc).startswith(variable)


def test_a_refused_value_is_named_and_cut_short(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), "LEAD_SCORING_MODEL_NAME": "m" * 100_000})
    assert str(refused.value).startswith("LEAD_SCORING_MODEL_NAME=") and len(str(refused.value)) < 200
