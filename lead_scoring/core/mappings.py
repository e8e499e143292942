"""The reference mappings the data pipeline applies, loaded from the project's JSON files."""

from __future__ import annotations

import json
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


def load_mappings(settings: MappingFiles) -> Mappings:
    """Read and check the three mapping files named by the settings."""
    tiers_doc = _read_json(settings.city_tier_path)
    levels_doc = _read_json(settings.significant_levels_path)
    groups_doc = _read_json(settings.interaction_groups_path)
    try:
        city_tiers = {
            city.strip().lower(): float(tier) for tier, cities in tiers_doc["tiers"].items() for city in cities
        }
        default_tier = float(tiers_doc.get("default_tier", UNKNOWN_CITY_TIER))
        levels = {col: frozenset(vals) for col, vals in levels_doc["levels"].items()}
        groups = {group: tuple(cols) for group, cols in groups_doc["groups"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigurationError(f"mapping files are malformed: {exc!r}") from None

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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: mapping file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc})") from None
