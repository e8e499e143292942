"""Per-tree TreeSHAP gives what LightGBM's whole-model TreeSHAP gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.explain import _collect_splits, contributions, first_positions

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
    from lead_scoring.core import explain

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
    from lead_scoring.core.explain import first_positions

    codes = pd.factorize(np.array([7, 7, 3, 7, 9, 3, 1]))[0]
    assert first_positions(codes).tolist() == [0, 2, 4, 6]


def test_category_codes_are_numbered_by_the_splits_that_list_them():
    from lead_scoring.core.explain import _sides

    codes = np.array([0, 1, 2, -1, 2], dtype=np.int64)  # -1: a missing category
    # split 0 sends codes 0 and 2 left (4 is not in this batch), split 1 sends code 1 (9 neither)
    sides, count = _sides(codes, [{"threshold": "0||2||4"}, {"threshold": "1||9"}])
    # bit 0 for split 0, bit 1 for split 1, bit 2 (4) for missing; 2^3 = 8 numbers in all
    assert sides.tolist() == [1, 2, 1, 4, 1] and count == 8


def test_numeric_values_are_numbered_by_side_with_zero_and_missing_apart():
    from lead_scoring.core.explain import _sides

    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, np.nan, 1e-40, -1e-35, 2e-35])
    sides, count = _sides(values, [{"threshold": 2.0}, {"threshold": 0.5}, {"threshold": 0.5}])
    # edges 0.5 and 2.0 (x <= edge goes left): 0 below 0.5, 1 up to 2.0, 2 above; what LightGBM reads
    # as zero (|x| <= 1e-35) its side + 3; missing 6
    assert sides.tolist() == [0, 3, 0, 1, 1, 2, 6, 3, 3, 0] and count == 7


def model_string(trees: list[dict], features: list[str]) -> str:
    """A LightGBM binary model written by hand: exact leaf values and counts, so the contributions are known."""
    head = [
        "tree",
        "version=v4",
        "num_class=1",
        "num_tree_per_iteration=1",
        "label_index=0",
        f"max_feature_idx={len(features) - 1}",
        "objective=binary sigmoid:1",
        "feature_names=" + " ".join(features),
        "feature_infos=" + " ".join(["[0:10]"] * len(features)),
        "",
    ]
    body = []
    for index, tree in enumerate(trees):
        body += [f"Tree={index}", *(f"{key}={value}" for key, value in tree.items()), ""]
    return "\n".join([*head, *body, "end of trees", "", "pandas_categorical:[]", ""])


def chain(features: int) -> dict:
    """One tree splitting each feature once at 0.5 (x <= 0.5 goes left to leaf i, else on to feature i + 1)."""
    leaves = [(-1) ** i * (i + 1) / 10 for i in range(features + 1)]
    return {
        "num_leaves": features + 1,
        "num_cat": 0,
        "split_feature": " ".join(str(i) for i in range(features)),
        "split_gain": " ".join(["1"] * features),
        "threshold": " ".join(["0.5"] * features),
        "decision_type": " ".join(["2"] * features),
        "left_child": " ".join(str(-(i + 1)) for i in range(features)),
        "right_child": " ".join([*(str(i + 1) for i in range(features - 1)), str(-(features + 1))]),
        "leaf_value": " ".join(repr(v) for v in leaves),
        "leaf_weight": " ".join(["1"] * (features + 1)),
        "leaf_count": " ".join(["1"] * (features + 1)),
        "internal_value": " ".join(repr(float(np.mean(leaves[i:]))) for i in range(features)),
        "internal_weight": " ".join(str(features + 1 - i) for i in range(features)),
        "internal_count": " ".join(str(features + 1 - i) for i in range(features)),
        "is_linear": 0,
        "shrinkage": 1,
    }


def stump(threshold: float, left: float, right: float, decision_type: int = 2) -> dict:
    """A tree of one split on feature 0, one training lead on each side (decision_type 2: missing
    values go left; 6: and zero is missing, as LightGBM reads any |x| <= 1e-35)."""
    return {
        "num_leaves": 2,
        "num_cat": 0,
        "split_feature": 0,
        "split_gain": 1,
        "threshold": threshold,
        "decision_type": decision_type,
        "left_child": -1,
        "right_child": -2,
        "leaf_value": f"{left!r} {right!r}",
        "leaf_weight": "1 1",
        "leaf_count": "1 1",
        "internal_value": repr((left + right) / 2),
        "internal_weight": 2,
        "internal_count": 2,
        "is_linear": 0,
        "shrinkage": 1,
    }


# two trees on x: at 5 (leaves 10 and 0, so x's share is +5 below 5) and at 2 (leaves +D/2 and -D/2)
D = 1e-8
TWO_LEADS = pd.DataFrame({"x": [1.0, 3.0]})
# TreeSHAP by hand: the bias is the count-weighted mean leaf, 5 + 0; x gets the rest
TWO_LEADS_CONTRIBUTIONS = [[5 + D / 2, 5.0], [5 - D / 2, 5.0]]


@pytest.fixture(scope="module")
def two_trees():
    from lightgbm import Booster

    return Booster(model_str=model_string([stump(5.0, 10.0, 0.0), stump(2.0, D / 2, -D / 2)], ["x"]))


def test_a_value_lightgbm_reads_as_zero_is_numbered_apart_from_its_neighbours():
    """With zero as missing, LightGBM sends 1e-40 the missing way (left) and -0.2 right of -0.5: one
    numbering by side alone would put them in one cell and give both the first one's contributions."""
    from lightgbm import Booster

    booster = Booster(model_str=model_string([stump(-0.5, 10.0, 0.0, decision_type=6)], ["x"]))
    leads = pd.DataFrame({"x": [-0.2, 1e-40, 0.0, -1e-36, 0.3]})
    expected = [[-5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [-5.0, 5.0]]  # bias 5; x: -5 right, +5 left
    np.testing.assert_array_equal(booster.predict(leads, pred_contrib=True), expected)  # LightGBM agrees
    np.testing.assert_array_equal(contributions(booster, leads, checked_rows=0), expected)


def test_values_lightgbm_reads_as_zero_go_where_zero_goes():
    """LightGBM predicts with |x| <= 1e-35 read as 0, even against a threshold between them: at
    -5e-37, -1e-36 goes right with 0 and 1e-36, not left."""
    from lightgbm import Booster

    booster = Booster(model_str=model_string([stump(-5e-37, 10.0, 0.0)], ["x"]))
    leads = pd.DataFrame({"x": [-1e-36, 0.0, 1e-36, -1.0]})
    expected = [[-5.0, 5.0], [-5.0, 5.0], [-5.0, 5.0], [5.0, 5.0]]
    np.testing.assert_array_equal(booster.predict(leads, pred_contrib=True), expected)  # LightGBM's own answer
    np.testing.assert_array_equal(contributions(booster, leads, checked_rows=0), expected)


def one_cell(values, nodes):
    """A broken numbering: every lead in one cell, so each gets the first lead's contributions."""
    return np.zeros(len(values), dtype=np.int64), 1


def test_hand_written_model_contributions(two_trees):
    np.testing.assert_allclose(
        two_trees.predict(TWO_LEADS, pred_contrib=True), TWO_LEADS_CONTRIBUTIONS, rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(
        contributions(two_trees, TWO_LEADS, checked_rows=0), TWO_LEADS_CONTRIBUTIONS, rtol=0, atol=1e-15
    )


def test_the_self_check_sees_a_difference_of_1e_8_on_5(two_trees, monkeypatch, caplog):
    from lead_scoring.core import explain

    monkeypatch.setattr(explain, "_sides", one_cell)  # the second lead gets 5 + D/2 for x instead of 5 - D/2
    np.testing.assert_allclose(contributions(two_trees, TWO_LEADS), TWO_LEADS_CONTRIBUTIONS, rtol=0, atol=1e-15)
    assert "disagree" in caplog.text


def test_the_self_check_compares_the_first_row(two_trees, monkeypatch, caplog):
    from lead_scoring.core import explain

    monkeypatch.setattr(explain, "_sides", one_cell)
    # the last lead represents the cell: only the first lead is wrong
    monkeypatch.setattr(explain, "first_positions", lambda codes: np.array([len(codes) - 1]))
    np.testing.assert_allclose(contributions(two_trees, TWO_LEADS), TWO_LEADS_CONTRIBUTIONS, rtol=0, atol=1e-15)
    assert "disagree" in caplog.text


def test_the_self_check_compares_only_the_first_checked_rows(two_trees, monkeypatch, caplog):
    from lead_scoring.core import explain

    # a guard of bounded cost, not a proof: a mistake past the checked rows goes through
    monkeypatch.setattr(explain, "_sides", one_cell)
    result = contributions(two_trees, TWO_LEADS, checked_rows=1)
    np.testing.assert_allclose(result, [TWO_LEADS_CONTRIBUTIONS[0]] * 2, rtol=0, atol=1e-15)
    assert "disagree" not in caplog.text


def test_integer_and_nullable_columns_read_as_floats(booster):
    leads = frame(300, 6)
    expected = booster.predict(leads, pred_contrib=True)
    leads["flag"] = leads["flag"].astype("int64")  # an integer column is no category code
    leads["count"] = leads["count"].astype("Float64")  # missing as pd.NA
    assert leads["count"].isna().any()
    np.testing.assert_allclose(contributions(booster, leads, checked_rows=0), expected, rtol=0, atol=1e-10)


def test_a_tree_with_2_to_the_60_cells_is_numbered_exactly(monkeypatch):
    from lightgbm import Booster

    from lead_scoring.core import explain

    # 5 numbers per feature (below, above, each of them as zero, missing): 5**26 = 2**60.4 cells, under 2**62
    features = [f"f{i}" for i in range(26)]
    booster = Booster(model_str=model_string([chain(26)], features))
    # leads alike but in the first features: as float64 numbers near 2**60 their cells would be one
    low = np.array([[(k >> bit) & 1 for bit in range(4)] for k in range(16)], dtype=float)
    high = np.ones((16, 22))
    high[:, -1] = 0
    leads = pd.DataFrame(np.vstack([np.hstack([low, high]), np.hstack([low, np.ones((16, 22))])]), columns=features)
    numbered = []
    monkeypatch.setattr(explain, "first_positions", lambda codes: numbered.append(1) or first_positions(codes))
    # no self-check: the per-tree computation alone must be right
    np.testing.assert_allclose(
        contributions(booster, leads, checked_rows=0), booster.predict(leads, pred_contrib=True), rtol=0, atol=1e-12
    )
    assert numbered == [1]  # the tree went by cells, not row by row


def test_a_tree_with_too_many_cells_to_number_goes_row_by_row():
    from lightgbm import Booster

    features = [f"f{i}" for i in range(40)]  # 5**40 = 2**93 cells: more than an int64 can number
    booster = Booster(model_str=model_string([chain(40)], features))
    leads = pd.DataFrame(np.random.default_rng(8).integers(0, 2, (100, 40)).astype(float), columns=features)
    np.testing.assert_allclose(
        contributions(booster, leads, checked_rows=0), booster.predict(leads, pred_contrib=True), rtol=0, atol=1e-12
    )
