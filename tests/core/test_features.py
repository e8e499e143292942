"""The one feature path: categories frozen at fit, unseen and missing values, real levels named like buckets."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.core.features import CATEGORICAL_FEATURES, FEATURES, MISSING, OTHER, LeadFeatures


def model_input(cities: list[str | None], sources: list[str | None]) -> pd.DataFrame:
    n = len(cities)
    frame = pd.DataFrame({col: [0.0] * n for col in FEATURES})
    for col in CATEGORICAL_FEATURES:
        frame[col] = ["Level0"] * n
    frame["city_mapped"] = cities
    frame["first_utm_source_c_raw"] = sources
    return frame


def test_levels_are_learnt_at_fit_and_frozen():
    train = model_input(["pune"] * 3 + ["agra"], ["Level1"] * 4)
    features = LeadFeatures(min_count=2).fit(train)
    scored = features.transform(model_input(["pune", "agra", "atlantis", None], ["Level1", "Level9", None, "Level1"]))
    assert scored["city_mapped"].tolist() == ["pune", OTHER, OTHER, MISSING]  # agra was too rare to learn
    assert scored["first_utm_source_c_raw"].tolist() == ["Level1", OTHER, MISSING, "Level1"]
    assert list(scored["city_mapped"].cat.categories) == ["pune", OTHER, MISSING]
    assert list(scored.columns) == list(FEATURES)


def test_a_real_city_called_other_is_its_own_level():
    train = model_input(["other", "other", "missing", "missing"], ["Level1"] * 4)
    scored = LeadFeatures(min_count=2).fit_transform(train)
    assert scored["city_mapped"].tolist() == ["other", "other", "missing", "missing"]


def test_transform_needs_fit_and_the_contract_columns():
    with pytest.raises(RuntimeError, match="before fit"):
        LeadFeatures().transform(model_input(["pune"], ["Level1"]))
    from lead_scoring.errors import InputDataError

    features = LeadFeatures(min_count=1).fit(model_input(["pune"], ["Level1"]))
    with pytest.raises(InputDataError, match="first_platform_c_raw"):
        features.transform(model_input(["pune"], ["Level1"]).drop(columns=["first_platform_c_raw"]))


def test_the_refusals_in_words():
    with pytest.raises(RuntimeError) as caught:
        LeadFeatures().transform(model_input(["pune"], ["Level1"]))
    assert str(caught.value) == "LeadFeatures.transform called before fit"
    from lead_scoring.errors import InputDataError

    with pytest.raises(InputDataError) as refused:
        LeadFeatures(min_count=1).fit(model_input(["pune"], ["Level1"]).drop(columns=["referred_lead", "city_mapped"]))
    assert str(refused.value) == (
        "model input lacks column(s) referred_lead, city_mapped: rerun `lead-scoring prepare` with this version"
    )


def test_numeric_features_read_from_text_are_numbers_and_garbage_is_missing():
    frame = model_input(["pune", "pune"], ["Level1", "Level1"])
    features = LeadFeatures(min_count=1).fit(frame)
    frame["city_tier"] = ["2", "not a tier"]
    frame["referred_lead"] = [1, 0]
    scored = features.transform(frame)
    assert scored["city_tier"].iloc[0] == 2.0 and pd.isna(scored["city_tier"].iloc[1])
    assert scored["referred_lead"].tolist() == [1.0, 0.0]
    assert {str(scored[col].dtype) for col in ("city_tier", "referred_lead")} == {"float64"}
