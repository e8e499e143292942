"""The model registry's rules: versions, the `challenger` and `champion` aliases, and their history.

Every move of the `champion` alias is recorded twice: as tags on the versions involved (who, when,
why) and appended to the registered model's `champion_history` tag, so which version was champion
when is never lost. MLflow itself is behind :mod:`lead_scoring.adapters.mlflow.tracking`; this module
imports none of it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.errors import ConfigurationError, InvalidArgumentError, ModelNotFoundError
from lead_scoring.settings import MAX_TEXT_CHARS, Settings

if TYPE_CHECKING:
    from lead_scoring.core.model import LeadScorer

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
_HISTORY_KEEP = 40  # entries in the model-level tag; each version keeps its own tags forever
PROFILE_PATH = "monitoring/reference_profile.json"
VALIDATION_PATH = "validation/leads.csv"
_DESCRIPTION = "CodePro lead scorer: probability a lead completes an application."


@dataclass(frozen=True)
class ScoringModel:
    """A registered version loaded for scoring: its pyfunc, its reference profile and its tags."""

    name: str
    version: str
    run_id: str
    model: Any  # mlflow.pyfunc.PyFuncModel: predict() enforces the signature
    profile: dict[str, Any] | None
    tags: dict[str, str]

    @property
    def scorer(self) -> LeadScorer:
        scorer: LeadScorer = self.model.unwrap_python_model().scorer
        return scorer


def client(settings: Settings) -> Any:
    """The ``mlflow.MlflowClient`` on the settings' tracking store (for a person at a prompt, and tests)."""
    return tracking(settings).store.client


def experiment_link(settings: Settings) -> str:
    """The runs view of the training experiment when it exists (else the UI's front page); never creates it."""
    return tracking(settings).store.experiment_link()


def actor() -> str:
    """Who made a registry move: $LEAD_SCORING_USER, else the OS user."""
    user = os.environ.get("LEAD_SCORING_USER") or getpass.getuser()
    if len(user) > MAX_TEXT_CHARS or not user.isprintable():  # MLflow refuses a long tag value mid-move
        raise ConfigurationError(f"LEAD_SCORING_USER: must be 1 to {MAX_TEXT_CHARS} printable characters")
    return user


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- versions and aliases ---------------------------------------------------------------------------


def version_by_alias(settings: Settings, alias: str) -> VersionFacts | None:
    return tracking(settings).versions.version_by_alias(alias)


def find_version_for_airflow_run(settings: Settings, airflow_run: str) -> VersionFacts | None:
    """The version a DAG run already registered (so a rerun does not register a duplicate)."""
    return tracking(settings).versions.find_version("airflow_run", airflow_run)


def register(settings: Settings, model_uri: str, tags: dict[str, str]) -> str:
    """A new version of the registered model from a run's logged model, aliased `challenger`."""
    registry = tracking(settings).versions
    version = registry.register(model_uri, tags, _DESCRIPTION)
    registry.set_alias(CHALLENGER, version)
    return version


def settle_challenger(settings: Settings, version: str, promoted: bool) -> None:
    """A version the gate refused stays `challenger` (the shadow scores with it); a promoted one is
    champion, and no longer the challenger."""
    registry = tracking(settings).versions
    if not promoted:
        registry.set_alias(CHALLENGER, version)
        return
    current = registry.version_by_alias(CHALLENGER)
    if current is not None and current.version == version:
        registry.delete_alias(CHALLENGER)


def training_cutoffs(settings: Settings) -> dict[str, pd.Timestamp]:
    """Each version's training cut-off (its `trained_until` tag: the newest lead it was trained on)."""
    cutoffs = {}
    for found in tracking(settings).versions.all_versions():
        stamp = pd.to_datetime(found.tags.get("trained_until") or None, errors="coerce")
        if not pd.isna(stamp):
            stamp = pd.Timestamp(stamp)
            cutoffs[str(found.version)] = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
    return cutoffs


def set_version_tags(settings: Settings, version: str, tags: dict[str, object]) -> None:
    tracking(settings).versions.set_version_tags(version, tags)


MoveKind = Literal["promote", "force", "rollback"]
MAX_REASON_CHARS = 1000  # a reason is a sentence or two; far longer ones do not fit the history tag
_HISTORY_MAX_CHARS = 100_000  # MLflow's limit on a registered model's tag value


def move_champion(
    settings: Settings, version: str, *, reason: str, kind: MoveKind = "promote", by: str | None = None
) -> None:
    """Point `champion` at ``version`` and record who, when, why and what kind of move, on both
    versions and in the history.

    Everything that can be refused is checked before the alias moves (the version, the reason, the
    history's size); if recording fails after the move, the alias goes back to where it was, so a
    move is never half done. ``kind`` is what the move is (a gate's promotion, a forced one, a
    rollback): recorded as a field, never read back from the free-text reason.
    """
    registry = tracking(settings).versions
    version = normalise_version(version)
    check_reason(reason)
    history = champion_history(settings)
    _require_version(settings, version)
    _require_artifacts(settings, version)
    previous = registry.version_by_alias(CHAMPION)
    at, by = now_utc(), by or actor()
    history.append(
        {
            "version": version,
            "alias": CHAMPION,
            "at": at,
            "by": by,
            "why": reason,
            "kind": kind,
            "forced": kind == "force",
            "previous": previous.version if previous is not None else None,
            "rollback": kind == "rollback",
        }
    )
    recorded = _history_text(history[-_HISTORY_KEEP:])
    registry.set_alias(CHAMPION, version)
    try:
        registry.set_version_tags(
            version,
            {
                "promoted_at": at,
                "promoted_by": by,
                "promotion_reason": reason,
                "promotion_kind": kind,
                "promotion_forced": str(kind == "force").lower(),
            },
        )
        if previous is not None and previous.version != version:
            registry.set_version_tags(previous.version, {"retired_at": at, "retired_by": by, "retired_for": version})
        registry.set_model_tag(HISTORY_TAG, recorded)
    except Exception:
        # not half done: the alias goes back (or away, when there was no champion), then the error is reported
        if previous is not None:
            registry.set_alias(CHAMPION, previous.version)
        else:
            registry.delete_alias(CHAMPION)
        raise
    log.info("champion is now version %s (%s: %s)", version, kind, reason)


def check_reason(reason: str) -> None:
    """Refuse a reason that cannot be recorded (before anything moves)."""
    if not reason.strip():
        raise InvalidArgumentError("give a reason (it is recorded with the move of champion)")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidArgumentError(
            f"the reason has {len(reason):,} characters; at most {MAX_REASON_CHARS:,} are recorded with a move "
            "of champion (nothing was moved)"
        )


def _history_text(history: list[dict[str, Any]]) -> str:
    """The history as the model tag holds it: the newest entries that fit MLflow's limit."""
    while True:
        text = json.dumps(history)
        if len(text) <= _HISTORY_MAX_CHARS or len(history) <= 1:
            return text
        history = history[1:]


def normalise_version(version: object) -> str:
    """A registry version number as MLflow writes it ("01" and " 1" are "1"); anything else: a clear error."""
    text = str(version).strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ModelNotFoundError(f"{str(version)!r} is not a version number (1, 2, ...)")
    return str(int(text))


def _require_version(settings: Settings, version: str) -> VersionFacts:
    found = tracking(settings).versions.version(version)
    if found is None:
        raise ModelNotFoundError(f"'{settings.model_name}' has no version {version}")
    return found


def _require_artifacts(settings: Settings, version: str) -> None:
    """Refuse a version whose model files are gone: as champion, every scoring run would fail."""
    if not tracking(settings).versions.model_artifacts_present(version):
        raise ModelNotFoundError(
            f"version {version} of '{settings.model_name}' has no model artifacts (deleted?): it cannot serve; "
            "nothing was moved"
        )


def champion_history(settings: Settings) -> list[dict[str, Any]]:
    tags = tracking(settings).versions.model_tags()
    if tags is None:
        raise ModelNotFoundError(
            f"no registered model '{settings.model_name}' in {settings.redacted_tracking_uri()}: "
            "run `lead-scoring train` first"
        )
    history: list[dict[str, Any]] = json.loads(tags.get(HISTORY_TAG, "[]"))
    return history


def rollback(settings: Settings, reason: str, by: str | None = None) -> tuple[str, str]:
    """Move `champion` back to the version that held it before the current one; returns (from, to).

    Rollbacks walk back through the history (v1 -> v2 -> v3, then rollback: v2, rollback again:
    v1), they do not toggle between the last two versions.
    """
    current = version_by_alias(settings, CHAMPION)
    if current is None:
        raise ModelNotFoundError(f"registered model '{settings.model_name}' has no champion to roll back")
    held = champion_stack(champion_history(settings))
    if not held or held[-1] != current.version:  # the alias was moved outside this package
        held.append(current.version)
    if len(held) < 2:
        raise ModelNotFoundError(
            f"version {current.version} is the oldest champion in the history; nothing earlier to roll back to"
        )
    target = held[-2]
    move_champion(settings, target, reason=f"rollback from version {current.version}: {reason}", kind="rollback", by=by)
    return current.version, target


def champion_stack(history: list[dict[str, Any]]) -> list[str]:
    """The versions that held `champion`, oldest first, with the ones rolled back taken off (pure).

    A promotion (forced or not) puts its version on top; a rollback takes the top off. The top is the champion and
    the one below it is where the next rollback goes.
    """
    held: list[str] = []
    for entry in history:
        version = str(entry["version"])
        # what the move was is a field ("kind"; before it, the "rollback" flag), never the reason's text
        if entry.get("kind", "rollback" if entry.get("rollback") is True else "promote") == "rollback":
            if held:
                held.pop()
            if not held or held[-1] != version:
                held.append(version)
        elif not held or held[-1] != version:
            held.append(version)
    return held


# -- loading a model for scoring --------------------------------------------------------------------


def load_scoring_model(settings: Settings, version: str | None = None) -> ScoringModel:
    """The champion (or a given version) as a pyfunc, with the reference profile saved beside it."""
    return load_version(settings, scoring_version(settings, version))


def scoring_version(settings: Settings, version: str | None = None) -> VersionFacts:
    """The champion's (or a given version's) registry facts, without loading the model."""
    if version is None:
        found = version_by_alias(settings, CHAMPION)
        if found is None:
            raise ModelNotFoundError(
                f"no champion for '{settings.model_name}' in {settings.redacted_tracking_uri()}: "
                "run `lead-scoring train` first (or `lead-scoring promote VERSION`)"
            )
        return found
    return _require_version(settings, str(version))


def load_version(settings: Settings, found: VersionFacts) -> ScoringModel:
    """A registered version as a pyfunc, with the reference profile saved beside it."""
    return ScoringModel(
        name=settings.model_name,
        version=found.version,
        run_id=found.run_id,
        model=tracking(settings).versions.load_model(found.version),
        profile=_load_profile(settings, found.run_id),
        tags=dict(found.tags),
    )


def _load_profile(settings: Settings, run_id: str) -> dict[str, Any] | None:
    try:
        profile: dict[str, Any] = tracking(settings).store.load_document(run_id, PROFILE_PATH)
    except Exception:  # noqa: BLE001 - an older model without a profile is still usable for scoring
        log.warning("run %s has no %s: drift will not be measured", run_id, PROFILE_PATH)
        return None
    return profile


def load_validation(settings: Settings, run_id: str) -> pd.DataFrame:
    """The validation leads (id, date, label, out-of-sample score) a training run saved."""
    frame = tracking(settings).store.load_csv(run_id, VALIDATION_PATH, parse_dates=["created_date"])
    frame["lead_id"] = frame["lead_id"].astype(str)
    return frame
