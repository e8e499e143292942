"""Reasons are the largest contributions by magnitude, in words, with their sign: literal cases."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lead_scoring.model import top_reasons


def test_the_three_largest_contributions_by_magnitude_in_order_with_their_sign():
    contributions = np.array(
        [
            [0.10, -0.50, 0.30, 0.00, 0.05],
            [-0.01, 0.02, -0.03, 0.04, -0.05],
        ]
    )
    words = pd.DataFrame(
        [["tier-2 city", "first enquiry", "referred by a learner", "no syllabus clicks", "platform Level0"]] * 2
    )
    assert top_reasons(contributions, words, 3).tolist() == [
        "first enquiry (-); referred by a learner (+); tier-2 city (+)",
        "platform Level0 (-); no syllabus clicks (+); referred by a learner (-)",
    ]
    assert top_reasons(contributions, words, 1).tolist() == ["first enquiry (-)", "platform Level0 (-)"]


def test_equal_contributions_keep_the_feature_order_and_zero_counts_as_up():
    contributions = np.array([[0.2, -0.2, 0.0, 0.2]])
    words = pd.DataFrame([["a", "b", "c", "d"]])
    assert top_reasons(contributions, words, 4).tolist() == ["a (+); b (-); d (+); c (+)"]
