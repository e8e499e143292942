"""A rerun of a training run's promote task decides as the run decided (#29.1, the training DAG's case):
an old version rerun after a newer champion took over never moves the alias back. A stand-in registry
holds the tags the gate wrote; the gate itself must not run again."""

from __future__ import annotations

import pytest

from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.pipelines import promotion


class _Versions:
    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def version(self, version: str) -> VersionFacts:
        return VersionFacts(version, "run2", self.tags)


class _Store:
    def run(self, run_id: str) -> None:
        raise AssertionError("the gate ran again")


class _Tracking:
    def __init__(self, tags: dict[str, str]) -> None:
        self.versions, self.store = _Versions(tags), _Store()


@pytest.fixture
def no_moves(monkeypatch):
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the registry was changed")

    for name in ("move_champion", "settle_challenger", "set_version_tags"):
        monkeypatch.setattr(promotion.registry, name, refuse)


def test_a_rerun_of_a_promoted_version_keeps_the_decision_and_moves_nothing(settings, monkeypatch, no_moves):
    tags = {
        "promotion_decision": "promoted",
        "promotion_reasons": "auc 0.81 > 0.75; no worse than champion v1",
        "promoted_at": "2021-12-01T00:00:00+00:00",
    }
    monkeypatch.setattr(promotion, "tracking", lambda _s: _Tracking(tags))
    outcome = promotion.promote_step(settings, "2")
    assert outcome == promotion.PromotionOutcome("2", True, ("auc 0.81 > 0.75", "no worse than champion v1"))


def test_a_rerun_of_a_rejected_version_stays_rejected(settings, monkeypatch, no_moves):
    tags = {"promotion_decision": "rejected", "promotion_reasons": "precision 0.61 <= 0.65"}
    monkeypatch.setattr(promotion, "tracking", lambda _s: _Tracking(tags))
    assert promotion.promote_step(settings, "2") == promotion.PromotionOutcome("2", False, ("precision 0.61 <= 0.65",))


def test_a_promotion_whose_move_never_happened_is_decided_again():
    facts = VersionFacts("2", "run2", {"promotion_decision": "promoted", "promotion_reasons": "x"})
    assert promotion.recorded_outcome(facts) is None
    assert promotion.recorded_outcome(VersionFacts("2", "run2", {})) is None
