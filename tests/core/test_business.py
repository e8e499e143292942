"""Cumulative gain, lift and bucket conversion on ten hand-counted leads."""

from __future__ import annotations

import pytest

from lead_scoring.core.business import bucket_table, gain_at, gain_table

# hottest first these are: 0.9 apply, 0.8 no, 0.7 apply, 0.6 no, 0.5 no, 0.4 apply, then four no
SCORES = [0.4, 0.05, 0.9, 0.2, 0.6, 0.7, 0.1, 0.8, 0.5, 0.3]
LABELS = [1, 0, 1, 0, 0, 1, 0, 0, 0, 0]


def test_gain_table_counts_the_applications_reached_by_calling_the_top_leads():
    rows = gain_table(LABELS, SCORES)
    assert [r["top_percent"] for r in rows] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [r["leads_called"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [r["applications_reached"] for r in rows] == [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    assert [r["share_of_applications"] for r in rows] == [
        0.3333, 0.3333, 0.6667, 0.6667, 0.6667, 1.0, 1.0, 1.0, 1.0, 1.0
    ]  # fmt: skip
    assert [r["lift"] for r in rows] == [3.333, 1.667, 2.222, 1.667, 1.333, 1.667, 1.429, 1.25, 1.111, 1.0]
    assert gain_at(LABELS, SCORES, 30) == 0.6667


def test_gain_table_rounds_the_top_share_of_an_uneven_count_and_survives_no_applications():
    # 7 leads: the top 30% is round(2.1) = 2 leads, the top 50% round(3.5) = 4 (round half to even)
    rows = {r["top_percent"]: r for r in gain_table([0, 1, 0, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])}
    assert rows[30]["leads_called"] == 2 and rows[30]["applications_reached"] == 1
    assert rows[50]["leads_called"] == 4 and rows[50]["share_of_applications"] == 0.5
    assert gain_at([0, 0, 0], [0.3, 0.2, 0.1], 30) == 0.0
    with pytest.raises(ValueError, match="3 labels for 2 scores"):
        gain_table([0, 1, 0], [0.1, 0.2])


def test_bucket_table_counts_leads_and_conversion_per_bucket():
    rows = bucket_table(LABELS, SCORES, hot=0.6, warm=0.3)
    assert rows == [
        {"bucket": "hot", "leads": 4, "applications": 2, "conversion_rate": 0.5, "share_of_applications": 0.6667},
        {"bucket": "warm", "leads": 3, "applications": 1, "conversion_rate": 0.3333, "share_of_applications": 0.3333},
        {"bucket": "cold", "leads": 3, "applications": 0, "conversion_rate": 0.0, "share_of_applications": 0.0},
    ]
    empty_warm = bucket_table(LABELS, SCORES, hot=0.5, warm=0.5)
    assert empty_warm[1] == {
        "bucket": "warm", "leads": 0, "applications": 0, "conversion_rate": 0.0, "share_of_applications": 0.0
    }  # fmt: skip
    with pytest.raises(ValueError, match="cut-offs"):
        bucket_table(LABELS, SCORES, hot=0.3, warm=0.6)


def test_tied_scores_keep_their_input_order():
    """Twenty leads: seven at 0.7 (positions 0, 3, .., 18), thirteen tied at 0.5 of which only the first
    three in file order (positions 1, 2, 4) applied. Hottest first, ties in input order, the top half is
    the seven at 0.7 and then positions 1, 2, 4: all three applications."""
    scores = [0.7 if i % 3 == 0 else 0.5 for i in range(20)]
    labels = [1 if i in (1, 2, 4) else 0 for i in range(20)]
    rows = {r["top_percent"]: r for r in gain_table(labels, scores)}
    assert (rows[40]["leads_called"], rows[40]["applications_reached"]) == (8, 1)
    assert (rows[50]["leads_called"], rows[50]["applications_reached"], rows[50]["share_of_applications"]) == (
        10,
        3,
        1.0,
    )


def test_a_top_share_that_rounds_to_no_lead_reaches_no_application():
    # 4 leads: the top 10% is round(0.4) = 0 leads; the top 20% round(0.8) = 1 lead
    rows = gain_table([1, 0, 0, 1], [0.9, 0.5, 0.3, 0.1])
    assert rows[0] == {
        "top_percent": 10, "leads_called": 0, "applications_reached": 0, "share_of_applications": 0.0, "lift": 0.0
    }  # fmt: skip
    assert (rows[1]["leads_called"], rows[1]["applications_reached"], rows[1]["lift"]) == (1, 1, 2.5)


def test_bucket_cut_offs_may_sit_on_0_and_1_but_not_outside():
    # warm at 0: no lead is cold; hot at 1: only a perfect score is hot (the 1.0 here)
    rows = bucket_table([1, 0, 1, 0], [1.0, 0.99, 0.2, 0.0], hot=1.0, warm=0.0)
    assert [(r["bucket"], r["leads"], r["applications"]) for r in rows] == [
        ("hot", 1, 1),
        ("warm", 3, 1),
        ("cold", 0, 0),
    ]
    for hot, warm in ((1.01, 0.5), (0.5, -0.01), (2.0, 0.5)):
        with pytest.raises(ValueError) as caught:
            bucket_table([1], [0.5], hot=hot, warm=warm)
        assert str(caught.value) == f"bucket cut-offs must satisfy 0 <= warm ({warm}) <= hot ({hot}) <= 1"


def test_buckets_of_leads_without_any_application_share_nothing():
    rows = bucket_table([0, 0, 0], [0.9, 0.5, 0.1], hot=0.7, warm=0.3)
    assert rows == [
        {"bucket": "hot", "leads": 1, "applications": 0, "conversion_rate": 0.0, "share_of_applications": 0.0},
        {"bucket": "warm", "leads": 1, "applications": 0, "conversion_rate": 0.0, "share_of_applications": 0.0},
        {"bucket": "cold", "leads": 1, "applications": 0, "conversion_rate": 0.0, "share_of_applications": 0.0},
    ]


def test_a_score_equal_to_a_cut_off_belongs_to_the_upper_bucket():
    rows = bucket_table([1, 1, 0, 0], [0.7, 0.6999, 0.3, 0.2999], hot=0.7, warm=0.3)
    assert [(r["bucket"], r["leads"], r["applications"]) for r in rows] == [
        ("hot", 1, 1),
        ("warm", 2, 1),
        ("cold", 1, 0),
    ]
