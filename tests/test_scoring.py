"""Unit tests of the pure scoring helpers."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from lead_scoring.scoring import PREDICTION_COLUMNS, assign_buckets, build_predictions, unusual_inputs


def test_buckets_follow_the_cutoffs():
    scores = pd.Series([0.95, 0.7, 0.69, 0.4, 0.39, 0.0])
    assert assign_buckets(scores, hot_cutoff=0.7, warm_cutoff=0.4).tolist() == [
        "hot",
        "hot",
        "warm",
        "warm",
        "cold",
        "cold",
    ]


def test_bucket_cutoffs_must_be_ordered():
    with pytest.raises(ValueError, match="warm"):
        assign_buckets(pd.Series([0.5]), hot_cutoff=0.3, warm_cutoff=0.6)


def predictions_of(lead_ids: pd.Series, output: pd.DataFrame) -> pd.DataFrame:
    return build_predictions(
        lead_ids,
        output,
        model_name="lead_scoring",
        model_version="3",
        scored_at=datetime(2021, 12, 2, 6, 0),
        hot_cutoff=0.7,
        warm_cutoff=0.4,
    )


def test_predictions_are_hottest_first_with_every_column():
    output = pd.DataFrame({"score": [0.2, 0.9, 0.5], "predicted_label": [0, 1, 1], "top_reasons": ["a", "b", "c"]})
    frame = predictions_of(pd.Series(["x", "y", "z"]), output)
    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert frame["lead_id"].tolist() == ["y", "z", "x"]
    assert frame["bucket"].tolist() == ["hot", "warm", "cold"]
    assert frame["top_reasons"].tolist() == ["b", "c", "a"]
    assert set(frame["model_version"]) == {"3"}


def test_equal_scores_are_ordered_by_lead_id():
    output = pd.DataFrame({"score": [0.5, 0.9, 0.5, 0.5], "predicted_label": [1, 1, 1, 1], "top_reasons": list("abcd")})
    frame = predictions_of(pd.Series(["L3", "L9", "L1", "L2"], index=[10, 11, 12, 13]), output)
    assert frame["lead_id"].tolist() == ["L9", "L1", "L2", "L3"]
    assert frame["top_reasons"].tolist() == ["b", "c", "d", "a"]  # each lead keeps its own row
    assert frame.index.tolist() == [0, 1, 2, 3]


def test_unusual_inputs_are_counted():
    model_input = pd.DataFrame(
        {
            "first_platform_c": ["Level0", "Level77", None],
            "city_mapped": ["mumbai", None, "atlantis"],
            "assistance_interaction": [0.0, 2.0, 0.0],
            "syllabus_interaction": [0.0, 0.0, 0.0],
        }
    )
    counts = unusual_inputs(model_input, {"first_platform_c": {"Level0"}, "city_mapped": {"mumbai"}})
    assert counts == {
        "unseen_first_platform_c": 1,
        "unseen_city_mapped": 1,
        "missing_city": 1,
        "no_interactions": 2,
    }
