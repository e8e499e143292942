"""The target and frequency encodings: ordered for the training leads, fitted for the leads scored later."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.encodings import LevelEncoding, rate_column, share_column
from lead_scoring.schema import CITY, CREATED_DATE, LABEL

# five leads at three times; prior strength 2
LEADS = pd.DataFrame(
    {
        CREATED_DATE: pd.to_datetime(["2021-07-01", "2021-07-01", "2021-07-02", "2021-07-02", "2021-07-03"]),
        CITY: ["a", "b", "a", "a", "a"],
        LABEL: [1, 0, 0, 1, 0],
    }
)


def encoding() -> LevelEncoding:
    return LevelEncoding((CITY,), prior_strength=2.0)


def test_each_training_lead_is_encoded_from_the_leads_created_before_it_only():
    # by hand, rate = (positives before + 2 * base rate before) / (leads before + 2), per city:
    # 07-01 leads: nothing before, base 0.5           -> (0 + 1) / 2 = 0.5 each
    # 07-02 leads (a): before: lead 0 (a, 1), lead 1 -> base 0.5, a: 1 of 1 -> (1 + 1) / 3 = 2/3,
    #   the same for both: neither sees the other's label (created at the same time)
    # 07-03 lead (a): before: 4 leads, 2 converted -> base 0.5, a: 2 of 3 -> (2 + 1) / 5 = 0.6
    out = encoding().fit_transform_ordered(LEADS)
    np.testing.assert_allclose(out[rate_column(CITY)].to_numpy(), [0.5, 0.5, 2 / 3, 2 / 3, 0.6])
    np.testing.assert_allclose(out[share_column(CITY)].to_numpy(), [0.8, 0.2, 0.8, 0.8, 0.8])


def test_no_lead_sees_its_own_label_or_a_later_one():
    before = encoding().fit_transform_ordered(LEADS)[rate_column(CITY)].to_numpy()
    for flipped in range(len(LEADS)):
        changed = LEADS.assign(**{LABEL: LEADS[LABEL].where(LEADS.index != flipped, 1 - LEADS[LABEL])})
        after = encoding().fit_transform_ordered(changed)[rate_column(CITY)].to_numpy()
        same_time_or_before = LEADS[CREATED_DATE] <= LEADS[CREATED_DATE].iloc[flipped]
        np.testing.assert_array_equal(after[same_time_or_before], before[same_time_or_before])


def test_row_order_does_not_change_any_leads_encoding():
    shuffled = LEADS.iloc[[4, 2, 0, 3, 1]]
    out = encoding().fit_transform_ordered(shuffled)
    np.testing.assert_allclose(out.loc[[0, 1, 2, 3, 4], rate_column(CITY)], [0.5, 0.5, 2 / 3, 2 / 3, 0.6])


def test_later_leads_are_encoded_from_every_training_lead_and_the_unseen_as_the_base_rate():
    # base rate 2/5 = 0.4; a: 2 of 4 -> (2 + 0.8) / 6; b: 0 of 1 -> 0.8 / 3; c and a blank: unseen -> 0.4
    fitted = encoding().fit(LEADS)
    later = pd.DataFrame({CITY: ["a", "b", "c", None]})
    out = fitted.transform(later)
    np.testing.assert_allclose(out[rate_column(CITY)].to_numpy(), [2.8 / 6, 0.8 / 3, 0.4, 0.4])
    np.testing.assert_allclose(out[share_column(CITY)].to_numpy(), [0.8, 0.2, 0.0, 0.0])


def test_a_blank_level_is_a_level_of_its_own():
    leads = LEADS.assign(**{CITY: ["a", None, "a", "a", None]})
    out = encoding().fit(leads).transform(pd.DataFrame({CITY: [None]}))
    # blank: 0 of 2 converted, base 0.4 -> (0 + 0.8) / 4
    assert out[rate_column(CITY)].iloc[0] == pytest.approx(0.2)
    assert out[share_column(CITY)].iloc[0] == pytest.approx(0.4)


def test_only_the_asked_encodings_are_made():
    only_share = LevelEncoding((CITY,), 2.0, target=False, frequency=True)
    assert list(only_share.fit_transform_ordered(LEADS).columns) == [share_column(CITY)]
