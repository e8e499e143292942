"""Moves of `champion` are validated first and never half done; what a move is is a field (issue #23.5).

A fake registry stands in for MLflow: the rules under test are this package's, not MLflow's.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.errors import InvalidArgumentError, ModelNotFoundError


class FakeRegistry:
    def __init__(
        self, versions: list[str], champion: str | None, fail_on_tag: str | None = None, gone: tuple[str, ...] = ()
    ) -> None:
        self.versions = {v: {} for v in versions}
        self.gone = set(gone)  # versions whose model artifacts were deleted
        self.aliases = {"champion": champion} if champion else {}
        self.model = {"champion_history": json.dumps([{"version": champion, "kind": "promote"}])} if champion else {}
        self.fail_on_tag = fail_on_tag

    def version(self, version: str) -> VersionFacts | None:
        return VersionFacts(version, f"run{version}", self.versions[version]) if version in self.versions else None

    def version_by_alias(self, alias: str) -> VersionFacts | None:
        return self.version(self.aliases[alias]) if alias in self.aliases else None

    def model_tags(self) -> dict[str, str]:
        return dict(self.model)

    def set_alias(self, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def delete_alias(self, alias: str) -> None:
        self.aliases.pop(alias, None)

    def model_artifacts_present(self, version: str) -> bool:
        return version not in self.gone

    def set_version_tags(self, version: str, tags: dict[str, object]) -> None:
        for key, value in tags.items():
            if key == self.fail_on_tag:
                raise RuntimeError(f"INVALID_PARAMETER_VALUE: tag {key} rejected")
            self.versions[version][key] = str(value)

    def set_model_tag(self, key: str, value: str) -> None:
        self.model[key] = value


def _holding(versions: FakeRegistry) -> SimpleNamespace:
    """A stand-in tracking object whose registry part is the fake."""
    return SimpleNamespace(versions=versions)


@pytest.fixture
def fake(settings, monkeypatch) -> FakeRegistry:
    found = FakeRegistry(["1", "2", "3"], champion="1")
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(found))
    monkeypatch.setenv("LEAD_SCORING_USER", "analyst")
    return found


def test_a_reason_too_long_is_refused_before_the_alias_moves(settings, fake):
    """It moved champion, then failed to record the reason: v2 served with no record of it."""
    with pytest.raises(InvalidArgumentError) as caught:
        registry.move_champion(settings, "2", reason="x" * 100_000, kind="force")
    assert str(caught.value) == (
        "the reason has 100,000 characters; at most 1,000 are recorded with a move of champion (nothing was moved)"
    )
    assert fake.aliases["champion"] == "1" and fake.versions["2"] == {}
    assert json.loads(fake.model["champion_history"]) == [{"version": "1", "kind": "promote"}]


def test_a_failure_while_recording_puts_the_alias_back(settings, monkeypatch):
    failing = FakeRegistry(["1", "2"], champion="1", fail_on_tag="retired_at")
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(failing))
    with pytest.raises(RuntimeError):
        registry.move_champion(settings, "2", reason="better", kind="promote")
    assert failing.aliases["champion"] == "1"
    assert json.loads(failing.model["champion_history"]) == [{"version": "1", "kind": "promote"}]


def test_a_failed_first_promotion_leaves_no_champion_behind(settings, monkeypatch):
    """With no champion before, a move that failed while recording left the alias on the new version (#29.10)."""
    failing = FakeRegistry(["1"], champion=None, fail_on_tag="promoted_at")
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(failing))
    with pytest.raises(RuntimeError):
        registry.move_champion(settings, "1", reason="first model", kind="promote")
    assert failing.aliases == {}
    assert "champion_history" not in failing.model


def test_a_failed_first_history_write_leaves_no_champion_behind(settings, monkeypatch):
    failing = FakeRegistry(["1"], champion=None)

    def refused(key: str, value: str) -> None:
        raise RuntimeError("the registry refused the tag")

    failing.set_model_tag = refused  # type: ignore[method-assign]
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(failing))
    with pytest.raises(RuntimeError):
        registry.move_champion(settings, "1", reason="first model", kind="promote")
    assert failing.aliases == {}


def test_a_version_whose_artifacts_are_gone_is_refused_and_nothing_moves(settings, monkeypatch):
    """`promote 2` made v2 champion though its model files were deleted: every scoring run then failed (#29.10)."""
    gone = FakeRegistry(["1", "2", "3"], champion="1", gone=("2",))
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(gone))
    with pytest.raises(ModelNotFoundError) as caught:
        registry.move_champion(settings, "2", reason="by hand: try v2", kind="force")
    assert str(caught.value) == (
        "version 2 of 'lead_scoring' has no model artifacts (deleted?): it cannot serve; nothing was moved"
    )
    assert gone.aliases == {"champion": "1"} and gone.versions["2"] == {}
    assert json.loads(gone.model["champion_history"]) == [{"version": "1", "kind": "promote"}]


def test_a_rollback_to_a_version_whose_artifacts_are_gone_is_refused(settings, monkeypatch):
    gone = FakeRegistry(["1", "2"], champion="1", gone=("1",))
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(gone))
    gone.gone = set()
    registry.move_champion(settings, "2", reason="better", kind="promote")
    gone.gone = {"1"}
    with pytest.raises(ModelNotFoundError, match="version 1 of 'lead_scoring' has no model artifacts"):
        registry.rollback(settings, "v2 is bad", by="analyst")
    assert gone.aliases == {"champion": "2"}


def test_the_promote_command_refuses_a_version_whose_artifacts_are_gone(settings, monkeypatch, cli):
    gone = FakeRegistry(["1", "2"], champion="1", gone=("2",))
    monkeypatch.setattr(registry, "tracking", lambda _settings: _holding(gone))
    status, out, err = cli("promote", "2", "--reason", "try it")
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: version 2 of 'lead_scoring' has no model artifacts (deleted?): it cannot serve; nothing was moved"
    ]
    assert gone.aliases == {"champion": "1"}


def test_the_kind_of_move_is_recorded_as_a_field(settings, fake):
    registry.move_champion(settings, "2", reason="by hand: rollback from version 9: a plain reason", kind="force")
    entry = json.loads(fake.model["champion_history"])[-1]
    assert (entry["version"], entry["kind"], entry["forced"], entry["rollback"], entry["by"]) == (
        "2",
        "force",
        True,
        False,
        "analyst",
    )
    assert fake.versions["2"]["promotion_kind"] == "force" and fake.versions["1"]["retired_for"] == "2"


def test_a_forced_promotion_whose_reason_reads_like_a_rollback_is_not_one(settings, fake):
    """`train --force-promote --reason "rollback from version 2 ..."` was later read as a rollback."""
    registry.move_champion(settings, "2", reason="x", kind="promote")
    registry.move_champion(settings, "3", reason="rollback from version 2: not really", kind="force")
    assert registry.rollback(settings, "v3 is bad", by="analyst") == ("3", "2")
    assert fake.aliases["champion"] == "2"
    assert json.loads(fake.model["champion_history"])[-1]["kind"] == "rollback"
    assert registry.rollback(settings, "v2 too", by="analyst") == ("2", "1")


def test_champion_stack_reads_the_kind_never_the_reason():
    promoted = [{"version": v, "kind": "promote"} for v in ("1", "2", "3")]
    assert registry.champion_stack([*promoted, {"version": "2", "kind": "rollback", "why": "x"}]) == ["1", "2"]
    forced = {"version": "2", "kind": "force", "why": "rollback from version 3: bad"}
    assert registry.champion_stack([*promoted, forced]) == ["1", "2", "3", "2"]
    # entries written before the kind existed carry the rollback flag
    assert registry.champion_stack([*promoted, {"version": "2", "rollback": True}]) == ["1", "2"]
    assert registry.champion_stack([*promoted, {"version": "2", "why": "rollback from version 3: bad"}]) == [
        "1",
        "2",
        "3",
        "2",
    ]
