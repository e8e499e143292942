"""Exact per-lead feature contributions (TreeSHAP) of a LightGBM model, computed tree by tree.

``booster.predict(X, pred_contrib=True)`` runs TreeSHAP over every tree for every row, and is most
of the cost of scoring. But a tree's contributions for a lead depend only on which side of each of
that tree's splits the lead falls: a tree of depth 5 sees a whole batch as a few hundred distinct
"cells". So each tree is explained once per cell (LightGBM's own TreeSHAP on one representative
lead, ``start_iteration=t, num_iteration=1``) and the values are spread to the cell's leads. TreeSHAP
is additive over trees, so the sum is LightGBM's answer up to float rounding (about 1e-14).
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

if TYPE_CHECKING:
    from lightgbm import Booster

log = logging.getLogger(__name__)

# rows checked against LightGBM's whole-model TreeSHAP on every call: a guard, not a proof (the tests are)
_CHECKED_ROWS = 32
# up to this many distinct rows, LightGBM's whole-model TreeSHAP in one call beats a call per tree (1,000
# leads: 0.3 s against 1.6 s of CPU here; one lead: 300 calls of fixed cost, for one row)
DIRECT_ROWS = 4096
_TREES: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()  # a booster's dumped trees


def contributions_for(booster: Booster, features: pd.DataFrame) -> NDArray[Any]:
    """:func:`contributions` for many rows; up to ``DIRECT_ROWS``, LightGBM's whole-model TreeSHAP in one
    call (the same sums in LightGBM's order: equal to about 1e-14)."""
    if len(features) > DIRECT_ROWS:
        return contributions(booster, features)
    matrix = _lightgbm_matrix(booster, features)
    return np.asarray(booster.predict(features if matrix is None else matrix, pred_contrib=True))


def contributions(booster: Booster, features: pd.DataFrame, checked_rows: int = _CHECKED_ROWS) -> NDArray[Any]:
    """What ``booster.predict(features, pred_contrib=True)`` returns (binary model), faster.

    The first ``checked_rows`` rows are compared with LightGBM's own answer; on a difference the
    whole batch falls back to it (with a warning).
    """
    matrix = _lightgbm_matrix(booster, features)
    if matrix is None or features.empty:
        return np.asarray(booster.predict(features, pred_contrib=True))
    columns = [_column(features[col]) for col in features.columns]
    result = np.zeros((features.shape[1] + 1, len(features)))  # a row per feature: each tree adds to a few
    bias = features.shape[1]
    for index, tree in enumerate(_trees(booster)):
        splits: dict[int, list[dict[str, Any]]] = {}
        _collect_splits(tree["tree_structure"], splits)
        numbered = [_sides(columns[feature], nodes) for feature, nodes in sorted(splits.items())]
        if np.prod([float(count) for _, count in numbered]) >= 2**62:  # too many to number: row by row
            cell_of, first = np.arange(len(features)), np.arange(len(features))
        else:
            cells = np.zeros(len(features), dtype=np.int64)
            radix = 1
            for sides, count in numbered:
                cells += sides * radix
                radix *= count
            cell_of = pd.factorize(cells)[0]
            first = first_positions(cell_of)
        values = np.asarray(booster.predict(matrix[first], pred_contrib=True, start_iteration=index, num_iteration=1))
        for feature in [*splits, bias]:
            result[feature] += values[cell_of, feature]
    result = result.T
    checked = slice(0, min(checked_rows, len(features)))
    if checked_rows and not np.allclose(
        result[checked], booster.predict(matrix[checked], pred_contrib=True), rtol=1e-9, atol=1e-9
    ):
        log.warning("per-tree contributions disagree with LightGBM's; using its whole-model TreeSHAP")
        return np.asarray(booster.predict(matrix, pred_contrib=True))
    return result


def _trees(booster: Booster) -> list[Any]:
    """The booster's dumped trees, once per booster (dumping a model of 300 trees to JSON takes ~40 ms)."""
    trees = _TREES.get(booster)
    if trees is None:
        trees = _TREES[booster] = booster.dump_model()["tree_info"]
    return trees


def first_positions(codes: NDArray[Any]) -> NDArray[Any]:
    """Where each code of ``pd.factorize`` first appears (its codes are numbered in order of first
    appearance, so a new code is one above every code before it): no sort."""
    running = np.maximum.accumulate(codes)
    return np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))


def _lightgbm_matrix(booster: Booster, features: pd.DataFrame) -> NDArray[Any] | None:
    """The float matrix LightGBM makes of the frame (category codes as numbers, -1 as NaN), or None
    when the frame's categories are not those the model was trained with."""
    categorical = [col for col in features.columns if isinstance(features[col].dtype, pd.CategoricalDtype)]
    trained = getattr(booster, "pandas_categorical", None) or []
    if len(trained) != len(categorical) or any(
        list(features[col].cat.categories) != list(levels) for col, levels in zip(categorical, trained, strict=True)
    ):
        return None
    matrix = np.empty(features.shape, dtype=np.float64)
    for position, col in enumerate(features.columns):
        values = features[col]
        if col in categorical:
            codes = values.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            matrix[:, position] = codes
        else:
            matrix[:, position] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _column(values: pd.Series) -> NDArray[Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _collect_splits(node: dict[str, Any], splits: dict[int, list[dict[str, Any]]]) -> None:
    if "split_feature" in node:
        splits.setdefault(node["split_feature"], []).append(node)
        _collect_splits(node["left_child"], splits)
        _collect_splits(node["right_child"], splits)


def _sides(values: NDArray[Any], nodes: list[dict[str, Any]]) -> tuple[NDArray[Any], int]:
    """Number each value by the side it takes at every one of these splits of one feature; and how many numbers.

    Finer than needed is safe (it only makes more cells): zero and missing get numbers of their own,
    whatever the split's missing-value rule.
    """
    if values.dtype == np.int64:  # category codes; a categorical split sends the listed codes left
        table = np.zeros(int(values.max(initial=0)) + 2, dtype=np.int64)  # the last slot: code -1 (missing)
        for bit, node in enumerate(nodes):
            members = np.array([int(v) for v in str(node["threshold"]).split("||")], dtype=np.int64)
            members = members[(members >= 0) & (members < len(table) - 1)]
            table[members] |= 1 << bit
        table[-1] = 1 << len(nodes)
        return table[values], 1 << (len(nodes) + 1)
    edges = np.unique(np.array([float(node["threshold"]) for node in nodes]))
    sides = np.searchsorted(edges, values, side="left").astype(np.int64)  # x <= threshold goes left
    # LightGBM predicts with any |x| <= 1e-35 read as 0 (it leaves such a value out of the row), so
    # they all go where 0 goes at every split, whatever its missing-value rule (under zero_as_missing,
    # the missing way): one number for all of them, past the sides, never shared with a value that
    # is not zero to LightGBM
    past = len(edges) + 1
    sides[np.abs(values) <= _ZERO_THRESHOLD] = past
    sides[np.isnan(values)] = 2 * past
    return sides, 2 * past + 1


_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
