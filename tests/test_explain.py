"""Per-tree TreeSHAP gives what LightGBM's whole-model TreeSHAP gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.explain import _collect_splits, contributions

LEVELS = [f"L{i}" for i in range(40)]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    count = rng.poisson(1.5, rows).astype(float)
    count[rng.random(rows) < 0.1] = np.nan  # missing counts take the split's default side
    level = pd.Categorical(rng.choice(LEVELS, rows), categories=LEVELS)
    level[rng.random(rows) < 0.05] = np.nan  # a missing category
    return pd.DataFrame(
        {
            "count": count,
            "score": rng.normal(0, 1, rows),  # continuous: many thresholds
            "level": level,
            "other": pd.Categorical(rng.choice(["a", "b", "c"], rows), categories=["a", "b", "c"]),
            "flag": rng.integers(0, 2, rows).astype(float),  # zero is a value of its own
        }
    )


@pytest.fixture(scope="module")
def booster():
    from lightgbm import LGBMClassifier

    train = frame(3000, 1)
    codes = train["level"].cat.codes.to_numpy()
    logit = 0.8 * np.nan_to_num(train["count"], nan=3) + (codes % 3 == 0) - 1.5 * train["flag"] + train["score"]
    labels = (logit + np.random.default_rng(2).normal(0, 1, len(train)) > 1.5).astype(int)
    model = LGBMClassifier(n_estimators=40, num_leaves=15, max_depth=5, min_child_samples=10, verbose=-1)
    return model.fit(train, labels).booster_


def test_per_tree_contributions_equal_lightgbm(booster):
    leads = pd.concat([frame(2000, 3), frame(50, 3)], ignore_index=True)  # repeated leads share cells
    splits: dict[int, list[dict]] = {}
    for tree in booster.dump_model()["tree_info"]:
        _collect_splits(tree["tree_structure"], splits)
    thresholds = sorted({float(node["threshold"]) for node in splits[0]})
    assert thresholds and splits[1] and splits[2]  # numeric, continuous and categorical splits
    leads.loc[: len(thresholds) - 1, "count"] = thresholds  # values exactly on a split
    expected = booster.predict(leads, pred_contrib=True)
    # no self-check: the per-tree computation alone must be right
    np.testing.assert_allclose(contributions(booster, leads, checked_rows=0), expected, rtol=0, atol=1e-10)


def test_a_disagreement_falls_back_to_lightgbm(booster, monkeypatch, caplog):
    from lead_scoring import explain

    leads = frame(300, 5)
    monkeypatch.setattr(explain, "_sides", lambda values, nodes: (np.zeros(len(values), dtype=np.int64), 1))
    result = contributions(booster, leads)
    np.testing.assert_allclose(result, booster.predict(leads, pred_contrib=True), rtol=0, atol=1e-10)
    assert "disagree" in caplog.text


def test_unknown_categories_fall_back_to_lightgbm(booster):
    leads = frame(200, 4)
    leads["other"] = pd.Categorical(leads["other"].astype(str), categories=["c", "b", "a"])  # another coding
    np.testing.assert_allclose(
        contributions(booster, leads), booster.predict(leads, pred_contrib=True), rtol=0, atol=1e-10
    )


def test_first_positions_of_factorized_codes():
    from lead_scoring.explain import first_positions

    codes = pd.factorize(np.array([7, 7, 3, 7, 9, 3, 1]))[0]
    assert first_positions(codes).tolist() == [0, 2, 4, 6]


def test_category_codes_are_numbered_by_the_splits_that_list_them():
    from lead_scoring.explain import _sides

    codes = np.array([0, 1, 2, -1, 2], dtype=np.int64)  # -1: a missing category
    # split 0 sends codes 0 and 2 left (4 is not in this batch), split 1 sends code 1 (9 neither)
    sides, count = _sides(codes, [{"threshold": "0||2||4"}, {"threshold": "1||9"}])
    # bit 0 for split 0, bit 1 for split 1, bit 2 (4) for missing; 2^3 = 8 numbers in all
    assert sides.tolist() == [1, 2, 1, 4, 1] and count == 8


def test_numeric_values_are_numbered_by_side_with_zero_and_missing_apart():
    from lead_scoring.explain import _sides

    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, np.nan])
    sides, count = _sides(values, [{"threshold": 2.0}, {"threshold": 0.5}, {"threshold": 0.5}])
    # edges 0.5 and 2.0 (x <= edge goes left): 0 below 0.5, 1 up to 2.0, 2 above; zero 3, missing 4
    assert sides.tolist() == [0, 3, 0, 1, 1, 2, 4] and count == 5
