"""The reference mappings the data pipeline applies, as a value: the core receives them, never reads them.

:func:`mappings_from_documents` checks and builds :class:`Mappings` from the three parsed documents;
reading the files is the adapters' (:mod:`lead_scoring.adapters.mapping_files`). A trained model
carries the mappings it was trained with (pickled inside its online scorer), so the online path
needs no file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from lead_scoring.schema import CATEGORICAL_COLUMNS, INTERACTION_COLUMNS, UNKNOWN_CITY_TIER

Document = Literal["city_tiers", "significant_levels", "interaction_groups"]


@dataclass(frozen=True)
class Mappings:
    """City tiers, significant categorical levels and interaction groups."""

    city_tiers: dict[str, float]
    default_city_tier: float
    significant_levels: dict[str, frozenset[str]]
    interaction_groups: dict[str, tuple[str, ...]]


class MappingDocumentError(ValueError):
    """One of the three documents is malformed; ``document`` says which (the caller knows its file)."""

    def __init__(self, document: Document, message: str) -> None:
        super().__init__(message)
        self.document: Document = document


def mappings_from_documents(
    city_tiers: Mapping[str, Any], significant_levels: Mapping[str, Any], interaction_groups: Mapping[str, Any]
) -> Mappings:
    """Check and build the mappings from the parsed documents ({"tiers": ...}, {"levels": ...}, {"groups": ...})."""
    with _malformed("city_tiers"):
        tiers = {city.strip().lower(): float(tier) for tier, cities in city_tiers["tiers"].items() for city in cities}
        default_tier = float(city_tiers.get("default_tier", UNKNOWN_CITY_TIER))
    with _malformed("significant_levels"):
        levels = {col: frozenset(vals) for col, vals in significant_levels["levels"].items()}
    with _malformed("interaction_groups"):
        groups = {group: tuple(cols) for group, cols in interaction_groups["groups"].items()}

    missing_levels = set(CATEGORICAL_COLUMNS) - set(levels)
    if missing_levels:
        raise MappingDocumentError("significant_levels", f"no levels for {', '.join(sorted(missing_levels))}")
    grouped = [col for cols in groups.values() for col in cols]
    ungrouped = set(INTERACTION_COLUMNS) - set(grouped)
    if ungrouped or len(grouped) != len(set(grouped)):
        raise MappingDocumentError(
            "interaction_groups",
            "every interaction column must be in exactly one group "
            f"(ungrouped: {', '.join(sorted(ungrouped)) or 'none'})",
        )
    return Mappings(tiers, default_tier, levels, groups)


@contextmanager
def _malformed(document: Document) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MappingDocumentError(document, f"mapping file is malformed: {exc!r}") from None
