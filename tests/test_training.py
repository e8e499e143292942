"""Unit tests of the pure training functions on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.errors import InsufficientDataError
from lead_scoring.training import (
    Targets,
    check_sufficiency,
    choose_threshold,
    decide_promotion,
    evaluate,
    split_by_time,
)

TARGETS = Targets(auc=0.75, precision=0.65, recall=0.75)


def leads(n: int = 100, positive_every: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_date": pd.date_range("2021-07-01", periods=n, freq="h"),
            "app_complete_flag": [int(i % positive_every == 0) for i in range(n)],
        }
    )


def test_split_holds_out_the_newest_leads():
    frame = leads(100).sample(frac=1, random_state=1)  # order must not matter
    fit, valid = split_by_time(frame, 0.2)
    assert len(valid) == 20 and len(fit) == 80
    assert fit["created_date"].max() < valid["created_date"].min()


def test_split_refuses_a_one_class_side():
    frame = leads(100)
    frame.loc[frame.index >= 80, "app_complete_flag"] = 0
    with pytest.raises(InsufficientDataError, match="validation leads hold one class"):
        split_by_time(frame, 0.2)


def test_sufficiency_counts_leads_and_both_classes():
    check_sufficiency(leads(100), min_leads=100, min_conversions=50)
    with pytest.raises(InsufficientDataError, match="only 99 lead"):
        check_sufficiency(leads(99), min_leads=100, min_conversions=10)
    with pytest.raises(InsufficientDataError, match="10 converted"):
        check_sufficiency(leads(100, positive_every=10), min_leads=10, min_conversions=20)
    with pytest.raises(InsufficientDataError, match="no app_complete_flag"):
        check_sufficiency(leads(100).drop(columns=["app_complete_flag"]), 1, 1)


def test_threshold_is_the_most_precise_cut_that_keeps_recall():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.05])
    assert choose_threshold(y, s, min_recall=0.75) == pytest.approx(0.7)
    assert choose_threshold(y, s, min_recall=1.0) == pytest.approx(0.3)


def test_metrics_come_from_probabilities_of_the_positive_class():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1])
    m = evaluate(y, s, threshold=0.5)
    assert m["auc"] == pytest.approx(0.75)  # from scores, not from 0/1 predictions (that would be 0.5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["positive_rate"] == pytest.approx(0.5)


def test_promotion_needs_all_targets_and_no_regression():
    good = {"auc": 0.80, "precision": 0.70, "recall": 0.80}
    assert decide_promotion(good, None, TARGETS, 0.005).promote
    assert not decide_promotion({**good, "recall": 0.74}, None, TARGETS, 0.005).promote
    worse = decide_promotion(good, {"auc": 0.82}, TARGETS, 0.005)
    assert not worse.promote and any("worse than champion" in r for r in worse.reasons)
    assert decide_promotion(good, {"auc": 0.804}, TARGETS, 0.005).promote  # within tolerance


def test_signature_takes_what_scoring_meets():
    """Null-able text columns, optional lead id, doubles for counts, datetime for the creation date."""
    from lead_scoring.pyfunc import model_signature

    frame = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_date": pd.to_datetime(["2021-07-01 10:00", "2021-07-02 11:00"]),
            "city_mapped": ["pune", "agra"],
            "first_platform_c_raw": ["Level0", "Level1"],
            "referred_lead": [1.0, 0.0],
            "syllabus_interaction": [2.0, 0.0],
            "app_complete_flag": [1, 0],
        }
    )
    specs = {spec.name: spec for spec in model_signature(frame).inputs.inputs}
    assert "app_complete_flag" not in specs
    assert specs["created_date"].type.name == "datetime"
    assert specs["referred_lead"].type.name == "double" and specs["referred_lead"].required
    for col in ("lead_id", "city_mapped", "first_platform_c_raw"):
        assert specs[col].type.name == "string" and not specs[col].required
    outputs = [spec.name for spec in model_signature(frame).outputs.inputs]
    assert outputs == ["score", "predicted_label", "top_reasons"]
