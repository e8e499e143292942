"""Reasons are the largest contributions by magnitude, in words, with their sign: literal cases."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lead_scoring.core.model import top_reasons


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


def test_each_feature_reads_in_a_sales_persons_words():
    """The words reasons are made of, for every kind of value: literal, as sales reads them."""
    import pandas as pd

    from lead_scoring.core.model import describe_features

    features = pd.DataFrame(
        {
            "city_tier": [1, 2, 3],
            "total_leads_droppped": [2, 1, None],  # the lead itself is 1: 2 is one before
            "referred_lead": [1, 0, None],
            "assistance_interaction": [2, 0, None],
            "career_interaction": [1, 0, 0],
            "payment_interaction": [0, 5, 0],
            "social_interaction": [0, 0, 1],
            "syllabus_interaction": [3, 0, 0],
            "first_platform_c_raw": ["Level0", "(missing)", "(other)"],
            "first_utm_medium_c_raw": ["(other)", "Level3", "(missing)"],
            "first_utm_source_c_raw": ["(missing)", "(other)", "Level2"],
            "city_mapped": ["mumbai", "(missing)", "(other)"],
        },
        index=[10, 11, 12],
    )
    words = describe_features(features)
    assert list(words.columns) == list(features.columns)
    assert list(words.index) == [10, 11, 12]
    assert words.to_dict("list") == {
        "city_tier": ["metro city (tier 1)", "tier-2 city", "smaller city (tier 3)"],
        "total_leads_droppped": ["enquired 2 times before", "first enquiry", "first enquiry"],
        "referred_lead": ["referred by a learner", "not referred", "not referred"],
        "assistance_interaction": ["2 assistance clicks", "no assistance clicks", "no assistance clicks"],
        "career_interaction": ["1 career clicks", "no career clicks", "no career clicks"],
        "payment_interaction": ["no payment clicks", "5 payment clicks", "no payment clicks"],
        "social_interaction": ["no social clicks", "no social clicks", "1 social clicks"],
        "syllabus_interaction": ["3 syllabus clicks", "no syllabus clicks", "no syllabus clicks"],
        "first_platform_c_raw": ["platform Level0", "no platform", "a rarely seen platform"],
        "first_utm_medium_c_raw": ["a rarely seen marketing medium", "marketing medium Level3", "no marketing medium"],
        "first_utm_source_c_raw": ["no traffic source", "a rarely seen traffic source", "traffic source Level2"],
        "city_mapped": ["city mumbai", "no city given", "a rarely seen city"],
    }


def test_counts_beyond_an_integer_read_as_many_not_as_a_wrapped_number():
    """No unguarded cast: 1e20 became a negative int64 ("first enquiry"), inf raised (issue #23)."""
    import numpy as np
    import pandas as pd

    from lead_scoring.core.features import FEATURES
    from lead_scoring.core.model import describe_features

    features = pd.DataFrame({col: [0.0, 0.0, 0.0] for col in FEATURES})
    for col in FEATURES:
        if col.endswith("_raw") or col == "city_mapped":
            features[col] = ["(missing)"] * 3
    features["total_leads_droppped"] = [1e20, np.inf, 3.0]
    features["payment_interaction"] = [1e20, np.inf, 2.0]
    words = describe_features(features)
    assert words["total_leads_droppped"].tolist() == [
        "enquired more than 1,000,000 times before",
        "enquired more than 1,000,000 times before",
        "enquired 3 times before",
    ]
    assert words["payment_interaction"].tolist() == [
        "more than 1,000,000 payment clicks",
        "more than 1,000,000 payment clicks",
        "2 payment clicks",
    ]


def test_encodings_read_as_the_share_of_leads_that_completed_and_the_share_of_leads():
    """A recipe with encodings and no raw city: the city is described by its encodings only."""
    import pandas as pd

    from lead_scoring.core.model import describe_features

    features = pd.DataFrame(
        {
            "city_tier": [1, 3],
            "total_leads_droppped": [1.0, 1.0],
            "referred_lead": [0.0, 0.0],
            "first_utm_source_c_raw": ["Level2", "(other)"],
            "city_mapped_rate": [0.6849, 0.3],
            "first_utm_source_c_raw_rate": [0.555, 0.071],
            "city_mapped_share": [0.034, 0.0004],
            "first_utm_source_c_raw_share": [0.25, 0.0],
        }
    )
    words = describe_features(features)
    assert list(words.columns) == list(features.columns)
    assert words["city_mapped_rate"].tolist() == [
        "a city where 68% of leads completed",
        "a city where 30% of leads completed",
    ]
    assert words["first_utm_source_c_raw_rate"].tolist() == [
        "a traffic source where 56% of leads completed",
        "a traffic source where 7% of leads completed",
    ]
    assert words["city_mapped_share"].tolist() == ["a city of 3% of leads", "a city of under 1% of leads"]
    assert words["first_utm_source_c_raw_share"].tolist() == [
        "a traffic source of 25% of leads",
        "a traffic source of under 1% of leads",
    ]
