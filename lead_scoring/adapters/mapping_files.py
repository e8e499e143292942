"""The three mapping files named by the settings, read and handed to the core as one :class:`Mappings` value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from lead_scoring.core.mappings import Document, MappingDocumentError, Mappings, mappings_from_documents
from lead_scoring.errors import ConfigurationError


class MappingFiles(Protocol):
    """Where the three mapping files are: the settings name them, and reading them needs nothing else."""

    @property
    def city_tier_path(self) -> Path: ...
    @property
    def significant_levels_path(self) -> Path: ...
    @property
    def interaction_groups_path(self) -> Path: ...


# each document's settings field, and the setting that names it (else LEAD_SCORING_DATA_DIR holds it):
# an error says which to fix
_FIELDS: dict[Document, tuple[str, str]] = {
    "city_tiers": ("city_tier_path", "LEAD_SCORING_CITY_TIERS"),
    "significant_levels": ("significant_levels_path", "LEAD_SCORING_SIGNIFICANT_LEVELS"),
    "interaction_groups": ("interaction_groups_path", "LEAD_SCORING_INTERACTION_GROUPS"),
}


def load_mappings(settings: MappingFiles) -> Mappings:
    """Read the three mapping files named by the settings; a missing or malformed one is one plain line."""
    documents = {document: _read_json(settings, document) for document in _FIELDS}
    try:
        return mappings_from_documents(
            documents["city_tiers"], documents["significant_levels"], documents["interaction_groups"]
        )
    except MappingDocumentError as exc:
        raise ConfigurationError(f"{_path(settings, exc.document)}: {exc} {_named(exc.document)}") from None


def _path(settings: MappingFiles, document: Document) -> Path:
    return Path(getattr(settings, _FIELDS[document][0]))


def _named(document: Document) -> str:
    return f"(set by {_FIELDS[document][1]} or LEAD_SCORING_DATA_DIR)"


def _read_json(settings: MappingFiles, document: Document) -> Any:
    path = _path(settings, document)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: mapping file not found {_named(document)}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc}) {_named(document)}") from None
    except OSError as exc:  # a folder, a name too long, no permission
        raise ConfigurationError(f"{path}: mapping file cannot be read ({exc.strerror}) {_named(document)}") from None
