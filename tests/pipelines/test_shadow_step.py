"""The feedback run's shadow check: the challenger judged against the champion on the same labelled leads,
promoted or reported as the settings say (the registry is stood in for; the staging database is real)."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.pipelines import shadow
from tests.core.test_shadow import ROWS

OUTCOMES = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4", "L6"], "app_complete_flag": [1, 1, 0, 0, 1]})


@pytest.fixture
def registry(settings, monkeypatch):
    """Champion v1, challenger v2; moves of the champion alias are recorded here."""
    aliases = {"champion": "1", "challenger": "2"}
    moves: list[tuple[str, str]] = []

    def by_alias(_settings, alias):  # noqa: ANN001, ANN202
        return VersionFacts(aliases[alias], f"run{aliases[alias]}", {}) if alias in aliases else None

    def move(_settings, version, *, reason, **_kw):  # noqa: ANN001, ANN003, ANN202
        moves.append((version, reason))
        aliases["champion"] = version

    def settle(_settings, version, promoted):  # noqa: ANN001, ANN202
        if promoted and aliases.get("challenger") == version:
            del aliases["challenger"]

    monkeypatch.setattr(shadow.registry, "version_by_alias", by_alias)
    monkeypatch.setattr(shadow.registry, "move_champion", move)
    monkeypatch.setattr(shadow.registry, "settle_challenger", settle)
    rows = pd.DataFrame(ROWS, columns=["lead_id", "model_version", "role", "score", "predicted_label", "label"])
    predictions = rows.drop(columns=["label"]).assign(model_name=settings.model_name)
    with StagingDatabase(settings.db_url) as db:
        db.replace_tables({"predictions": predictions}, "test")
    return aliases, moves


def test_a_better_shadow_is_reported_by_default_and_nothing_moves(settings, registry):
    aliases, moves = registry
    verdict = shadow.shadow_step(settings.with_overrides(shadow_min_leads=4), OUTCOMES)
    assert verdict is not None and verdict.status == "shadow_better" and verdict.leads == 4
    assert moves == [] and aliases == {"champion": "1", "challenger": "2"}
    with StagingDatabase(settings.db_url) as db:
        stored = db.read_table("shadow_comparison")
    assert stored[["champion_version", "shadow_version", "leads", "status"]].values.tolist() == [
        ["1", "2", 4, "shadow_better"]
    ]


def test_a_better_shadow_is_promoted_when_the_setting_says_so_with_the_figures(settings, registry):
    aliases, moves = registry
    shadow.shadow_step(settings.with_overrides(shadow_min_leads=4, shadow_action="promote"), OUTCOMES)
    assert [version for version, _ in moves] == ["2"]
    assert "shadow v2 auc 1.000" in moves[0][1] and "champion v1 auc 0.750" in moves[0][1]
    assert aliases == {"champion": "2"}


def test_too_few_common_labelled_leads_promote_nothing(settings, registry):
    _, moves = registry
    verdict = shadow.shadow_step(settings.with_overrides(shadow_min_leads=5, shadow_action="promote"), OUTCOMES)
    assert verdict is not None and verdict.status == "too_few_leads" and moves == []
