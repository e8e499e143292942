"""Unit tests of the pure data-pipeline steps on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.core.transforms import (
    build_model_input,
    load_leads,
    map_city_tier,
    map_interaction_groups,
    map_significant_levels,
)
from lead_scoring.core.validation import validate_raw_leads
from lead_scoring.schema import (
    CITY,
    CITY_TIER,
    INTERACTION_COLUMNS,
    INTERACTION_GROUPS,
    LABEL,
    LEAD_ID,
    OTHERS_LEVEL,
)
from tests.factories import as_text, cells, raw_leads


@pytest.fixture
def mappings(settings):
    return load_mappings(settings)


@pytest.fixture
def validated():
    frame, _ = validate_raw_leads(as_text(raw_leads(12)), "test.csv")
    return frame


def test_load_fills_missing_counts_with_zero(validated):
    assert validated["total_leads_droppped"].isna().any()
    loaded = load_leads(validated)
    assert not loaded["total_leads_droppped"].isna().any()
    assert not loaded["referred_lead"].isna().any()
    assert (loaded.loc[validated["referred_lead"].isna(), "referred_lead"] == 0).all()
    # everything else is carried through unchanged
    assert loaded[INTERACTION_COLUMNS[0]].isna().equals(validated[INTERACTION_COLUMNS[0]].isna())


def test_city_tier_maps_known_unknown_and_missing(mappings):
    frame = pd.DataFrame({LEAD_ID: ["a", "b", "c", "d", "e"], CITY: ["mumbai", "agra", "smalltown", None, " Pune "]})
    mapped = map_city_tier(frame, mappings)
    assert mapped[CITY_TIER].tolist() == [1.0, 2.0, 3.0, 3.0, 1.0]
    assert CITY not in mapped.columns
    assert mapped[CITY_TIER].dtype == "float64"


def test_significant_levels_keep_listed_levels_only(mappings):
    frame = pd.DataFrame(
        {
            "first_platform_c": ["Level0", "Level99", None],
            "first_utm_medium_c": ["Level2", "Level1", "Level2"],
            "first_utm_source_c": ["Level14", "Level15", None],
        }
    )
    mapped = map_significant_levels(frame, mappings)
    assert mapped["first_platform_c"].tolist() == ["Level0", OTHERS_LEVEL, OTHERS_LEVEL]
    assert mapped["first_utm_medium_c"].tolist() == ["Level2", OTHERS_LEVEL, "Level2"]
    assert mapped["first_utm_source_c"].tolist() == ["Level14", OTHERS_LEVEL, OTHERS_LEVEL]


def test_interaction_groups_sum_their_columns_and_drop_the_raw_ones(mappings):
    frame = pd.DataFrame({LEAD_ID: ["a", "b"], LABEL: [1, 0]})
    for col in INTERACTION_COLUMNS:
        frame[col] = [None, None]
    frame.loc[0, "syllabus_expand"] = 3.0
    frame.loc[0, "download_syllabus"] = 2.0
    frame.loc[1, "emi_plans_clicked"] = 1.0
    mapped = map_interaction_groups(frame, mappings)
    assert not set(INTERACTION_COLUMNS) & set(mapped.columns)
    assert mapped.loc[0, "syllabus_interaction"] == 5.0
    assert mapped.loc[1, "payment_interaction"] == 1.0
    assert mapped.loc[1, "syllabus_interaction"] == 0.0  # all missing sums to 0, not NaN
    assert mapped.columns[-1] == LABEL


def test_two_leads_identical_after_mapping_are_not_merged(mappings, validated):
    twin = validated.iloc[[0, 0]].copy()
    twin[LEAD_ID] = ["first", "second"]
    mapped = map_interaction_groups(
        map_significant_levels(map_city_tier(load_leads(twin), mappings), mappings), mappings
    )
    assert mapped[LEAD_ID].tolist() == ["first", "second"]


def test_model_input_has_the_contract_columns(mappings, validated):
    loaded = load_leads(validated)
    interactions = map_interaction_groups(map_significant_levels(map_city_tier(loaded, mappings), mappings), mappings)
    model_input = build_model_input(interactions, loaded)
    assert model_input.columns[0] == LEAD_ID
    assert {CITY_TIER, CITY, *INTERACTION_GROUPS, LABEL, "created_date"} <= set(model_input.columns)
    assert len(model_input) == len(validated)
    assert model_input[LABEL].dtype == "int64"
    # the raw city (lower-cased) and the raw levels are carried for the model
    assert model_input[CITY].dropna().str.islower().all()
    assert model_input["first_platform_c_raw"].tolist() == validated["first_platform_c"].tolist()
    assert "Level99" in set(model_input["first_utm_source_c_raw"]) and "Level99" not in set(
        model_input["first_utm_source_c"]
    )


def test_model_input_without_label_for_scoring(mappings):
    raw = raw_leads(6, with_label=False)
    frame, report = validate_raw_leads(as_text(raw), "x.csv")
    assert not report.has_label
    loaded = load_leads(frame)
    model_input = build_model_input(
        map_interaction_groups(map_significant_levels(map_city_tier(loaded, mappings), mappings), mappings),
        loaded,
    )
    assert LABEL not in model_input.columns


def test_the_declared_steps_name_pure_functions_and_read_only_what_an_earlier_step_wrote():
    """schema.DATA_STEPS is the one list transform_leads, the data DAG and the CLI read."""
    import inspect

    from lead_scoring.core import transforms
    from lead_scoring.schema import DATA_PIPELINE_TABLES, DATA_STEPS, VALIDATED_LEADS

    written = {VALIDATED_LEADS}
    for step in DATA_STEPS:
        function = getattr(transforms, step.function)
        parameters = list(inspect.signature(function).parameters)
        assert len(parameters) >= len(step.reads) + step.uses_mappings, step.task_id
        assert set(step.reads) <= written, f"{step.task_id} reads a table no earlier step wrote"
        written.add(step.writes)
    assert DATA_PIPELINE_TABLES == tuple(step.writes for step in DATA_STEPS)
    assert len({step.task_id for step in DATA_STEPS}) == len(DATA_STEPS)


def hand_built_interactions() -> pd.DataFrame:
    """Two leads as the interaction step leaves them, listed b then a."""
    frame = pd.DataFrame(
        {
            LEAD_ID: ["b", "a"],
            "created_date": pd.to_datetime(["2021-08-02", "2021-08-01"]),
            CITY_TIER: [1, 3],  # integers: the model input must still carry floats
            "first_platform_c": ["Level0", OTHERS_LEVEL],
            "first_utm_medium_c": ["Level2", OTHERS_LEVEL],
            "first_utm_source_c": [OTHERS_LEVEL, "Level14"],
            "total_leads_droppped": [0, 2],
            "referred_lead": [1, 0],
        }
    )
    for i, group in enumerate(INTERACTION_GROUPS):
        frame[group] = [i, 0]
    frame[LABEL] = [1.0, 0.0]
    return frame


def test_model_input_columns_in_contract_order_with_the_raw_values_beside_their_mapped_ones():
    loaded = pd.DataFrame(
        {
            LEAD_ID: ["a", "b"],  # another order than the interactions: matched by lead_id
            CITY: ["Agra", " Pune "],
            "first_platform_c": ["Level7", "Level0"],
            "first_utm_medium_c": [None, "Level2"],
            "first_utm_source_c": ["Level14", "Level99"],
        }
    )
    model_input = build_model_input(hand_built_interactions(), loaded)
    assert list(model_input.columns) == [
        "lead_id",
        "created_date",
        "city_tier",
        "city_mapped",
        "first_platform_c_raw",
        "first_utm_medium_c_raw",
        "first_utm_source_c_raw",
        "first_platform_c",
        "first_utm_medium_c",
        "first_utm_source_c",
        "total_leads_droppped",
        "referred_lead",
        "assistance_interaction",
        "career_interaction",
        "payment_interaction",
        "social_interaction",
        "syllabus_interaction",
        "app_complete_flag",
    ]
    assert model_input[LEAD_ID].tolist() == ["b", "a"]
    assert model_input[CITY].tolist() == ["pune", "agra"]
    assert model_input["first_platform_c_raw"].tolist() == ["Level0", "Level7"]
    assert cells(model_input["first_utm_medium_c_raw"]) == ["Level2", None]
    assert model_input["first_utm_source_c_raw"].tolist() == ["Level99", "Level14"]
    assert model_input[CITY_TIER].tolist() == [1.0, 3.0] and str(model_input[CITY_TIER].dtype) == "float64"
    assert model_input["syllabus_interaction"].tolist() == [4.0, 0.0]
    assert model_input[LABEL].tolist() == [1, 0] and str(model_input[LABEL].dtype) == "int64"


def test_model_input_without_loaded_leads_has_no_raw_columns():
    model_input = build_model_input(hand_built_interactions())
    assert list(model_input.columns)[:4] == ["lead_id", "created_date", "city_tier", "first_platform_c"]
    assert CITY not in model_input.columns


def test_model_input_names_the_columns_the_interactions_lack():
    with pytest.raises(KeyError) as caught:
        build_model_input(hand_built_interactions().drop(columns=[CITY_TIER, "referred_lead"]))
    assert caught.value.args == ("interactions frame lacks ['city_tier', 'referred_lead']",)
