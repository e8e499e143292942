"""The core builds the mappings from documents it is given; reading the files is the adapter's."""

from __future__ import annotations

import json
import re

import pytest

from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.core.mappings import MappingDocumentError, Mappings, mappings_from_documents
from lead_scoring.errors import ConfigurationError
from lead_scoring.schema import INTERACTION_COLUMNS
from lead_scoring.settings import Settings

LEVELS = {"levels": {"first_platform_c": ["Level0"], "first_utm_medium_c": ["Level11"], "first_utm_source_c": []}}
GROUPS = {"groups": {"all_interaction": list(INTERACTION_COLUMNS)}}


def test_the_documents_become_one_value_with_cities_normalised():
    tiers = {"tiers": {"1.0": [" Mumbai "], "3.0": ["ajmer"]}, "default_tier": 2.0}
    built = mappings_from_documents(tiers, LEVELS, GROUPS)
    assert built == Mappings(
        city_tiers={"mumbai": 1.0, "ajmer": 3.0},
        default_city_tier=2.0,
        significant_levels={
            "first_platform_c": frozenset({"Level0"}),
            "first_utm_medium_c": frozenset({"Level11"}),
            "first_utm_source_c": frozenset(),
        },
        interaction_groups={"all_interaction": tuple(INTERACTION_COLUMNS)},
    )


@pytest.mark.parametrize(
    ("tiers", "levels", "groups", "document", "message"),
    [
        ({"tier": {}}, LEVELS, GROUPS, "city_tiers", "malformed: KeyError('tiers')"),
        ({"tiers": {"x": ["a"]}}, LEVELS, GROUPS, "city_tiers", "malformed: ValueError"),
        ({"tiers": {}}, {"levels": {"first_platform_c": []}}, GROUPS, "significant_levels", "no levels for first_utm"),
        ({"tiers": {}}, LEVELS, {"groups": {"g": ["careers"]}}, "interaction_groups", "exactly one group"),
    ],
)
def test_a_malformed_document_names_itself(tiers, levels, groups, document, message):
    with pytest.raises(MappingDocumentError, match=re.escape(message)) as caught:
        mappings_from_documents(tiers, levels, groups)
    assert caught.value.document == document


def test_the_adapter_names_the_file_and_its_setting(tmp_path):
    bad = tmp_path / "groups.json"
    bad.write_text(json.dumps({"groups": {"g": ["careers"]}}))
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), "LEAD_SCORING_INTERACTION_GROUPS": str(bad)})
    with pytest.raises(ConfigurationError) as caught:
        load_mappings(settings)
    assert str(caught.value).startswith(f"{bad}: every interaction column must be in exactly one group")
    assert str(caught.value).endswith("(set by LEAD_SCORING_INTERACTION_GROUPS or LEAD_SCORING_DATA_DIR)")
