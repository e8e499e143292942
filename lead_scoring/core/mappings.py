"""The reference mappings the data pipeline applies, loaded from the project's JSON files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lead_scoring.errors import ConfigurationError
from lead_scoring.schema import CATEGORICAL_COLUMNS, INTERACTION_COLUMNS, UNKNOWN_CITY_TIER


class MappingFiles(Protocol):
    """Where the three mapping files are: the settings name them, and reading them needs nothing else."""

    @property
    def city_tier_path(self) -> Path: ...
    @property
    def significant_levels_path(self) -> Path: ...
    @property
    def interaction_groups_path(self) -> Path: ...


@dataclass(frozen=True)
class Mappings:
    """City tiers, significant categorical levels and interaction groups."""

    city_tiers: dict[str, float]
    default_city_tier: float
    significant_levels: dict[str, frozenset[str]]
    interaction_groups: dict[str, tuple[str, ...]]


# the setting that names each file (else LEAD_SCORING_DATA_DIR holds it): an error says which to fix
_VARIABLES = {
    "city_tier_path": "LEAD_SCORING_CITY_TIERS",
    "significant_levels_path": "LEAD_SCORING_SIGNIFICANT_LEVELS",
    "interaction_groups_path": "LEAD_SCORING_INTERACTION_GROUPS",
}


def load_mappings(settings: MappingFiles) -> Mappings:
    """Read and check the three mapping files named by the settings."""
    tiers_doc = _read_json(settings, "city_tier_path")
    levels_doc = _read_json(settings, "significant_levels_path")
    groups_doc = _read_json(settings, "interaction_groups_path")
    with _malformed(settings, "city_tier_path"):
        city_tiers = {
            city.strip().lower(): float(tier) for tier, cities in tiers_doc["tiers"].items() for city in cities
        }
        default_tier = float(tiers_doc.get("default_tier", UNKNOWN_CITY_TIER))
    with _malformed(settings, "significant_levels_path"):
        levels = {col: frozenset(vals) for col, vals in levels_doc["levels"].items()}
    with _malformed(settings, "interaction_groups_path"):
        groups = {group: tuple(cols) for group, cols in groups_doc["groups"].items()}

    missing_levels = set(CATEGORICAL_COLUMNS) - set(levels)
    if missing_levels:
        raise ConfigurationError(
            f"{settings.significant_levels_path}: no levels for {', '.join(sorted(missing_levels))}"
        )
    grouped = [col for cols in groups.values() for col in cols]
    ungrouped = set(INTERACTION_COLUMNS) - set(grouped)
    if ungrouped or len(grouped) != len(set(grouped)):
        raise ConfigurationError(
            f"{settings.interaction_groups_path}: every interaction column must be in exactly one group "
            f"(ungrouped: {', '.join(sorted(ungrouped)) or 'none'})"
        )
    return Mappings(city_tiers, default_tier, levels, groups)


def _named(field: str) -> str:
    return f"(set by {_VARIABLES[field]} or LEAD_SCORING_DATA_DIR)"


@contextmanager
def _malformed(settings: MappingFiles, field: str) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        path = getattr(settings, field)
        raise ConfigurationError(f"{path}: mapping file is malformed: {exc!r} {_named(field)}") from None


def _read_json(settings: MappingFiles, field: str) -> Any:
    path = Path(getattr(settings, field))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: mapping file not found {_named(field)}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc}) {_named(field)}") from None
    except OSError as exc:  # a folder, a name too long, no permission
        raise ConfigurationError(f"{path}: mapping file cannot be read ({exc.strerror}) {_named(field)}") from None
