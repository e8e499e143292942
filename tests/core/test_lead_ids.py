"""Derived lead ids never change: the same raw lead gets the same id in every release.

Predictions are stored under these ids and graded by them later, so ``derive_lead_ids`` must keep
giving what its first version gave: ``hash_pandas_object`` of the feature text, in hex.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.util import hash_array

from lead_scoring.core.validation import derive_lead_ids
from lead_scoring.schema import LABEL, RAW_FEATURE_COLUMNS
from tests.factories import as_text, raw_leads


def first_version(features: pd.DataFrame) -> pd.Series:
    """derive_lead_ids as first released (whole-frame hash_pandas_object)."""
    # pandas 3 hands out a read-only view: copy before writing into it
    hashed = pd.util.hash_pandas_object(features.fillna(""), index=False).to_numpy().copy()
    occurrence = pd.Series(hashed).groupby(hashed, sort=False).cumcount().to_numpy().astype(np.uint64)
    if occurrence.any():
        repeated = occurrence > 0
        hashed[repeated] = hash_array(hashed[repeated] + occurrence[repeated])
    return pd.Series(np.char.add("L", np.char.zfill(np.char.mod("%x", hashed), 16)), index=features.index)


def test_derived_ids_are_those_of_the_first_version():
    text = as_text(raw_leads(300))
    text = pd.concat([text, text.iloc[:7]], ignore_index=True)  # look-alike leads: occurrence numbers
    text.loc[3, "city_mapped"] = "l'école\tde\nnuit"
    text.index = text.index * 3 + 5  # ids follow the rows, not their positions
    derived = derive_lead_ids(text)
    assert derived.tolist() == first_version(text[list(RAW_FEATURE_COLUMNS)]).tolist()
    assert derived.index.equals(text.index) and derived.is_unique


def test_the_label_is_not_part_of_the_id():
    text = as_text(raw_leads(20))
    assert LABEL in text.columns
    assert derive_lead_ids(text).tolist() == derive_lead_ids(text.drop(columns=[LABEL])).tolist()


def test_literal_ids_of_three_leads_and_a_look_alike():
    """Pinned values: predictions already stored under these ids must still join in every release."""
    text = as_text(raw_leads(3))
    text = pd.concat([text, text.iloc[:1]], ignore_index=True)  # the first lead again: its own id
    assert derive_lead_ids(text).tolist() == [
        "L2cb416c803006cc3",
        "Laaedf190ef7da539",
        "La62b0c0835c65fdf",
        "L9b40db65f5d36c50",
    ]
