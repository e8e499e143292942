"""The flagged-share alarm: a batch whose share actually flagged strays past a binomial tolerance
from the share the decision policy means to flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.monitoring import compare_with_reference, flagged_share_check, share_tolerance


def batch(leads: int, share_above: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``leads`` leads of which the first ``share_above`` score 0.8 (above the 0.5 cut), the rest 0.2."""
    above = round(leads * share_above)
    scores = np.array([0.8] * above + [0.2] * (leads - above))
    predictions = pd.DataFrame({"score": scores, "predicted_label": (scores >= 0.5).astype(int)})
    return pd.DataFrame(index=range(leads)), predictions


PROFILE = {
    "features": {},  # no feature to compare: only the score checks speak
    "scores": {"edges": [0.0, 0.5, 1.0], "shares": [0.4, 0.6]},
    "threshold": 0.5,
    "positive_rate": 0.6,
}


def test_the_tolerance_is_four_binomial_deviations_and_never_under_five_points():
    assert share_tolerance(0.6, 500) == pytest.approx(4 * np.sqrt(0.6 * 0.4 / 500))  # 0.0876
    assert share_tolerance(0.6, 100) == pytest.approx(0.196, abs=1e-3)
    assert share_tolerance(0.6, 100_000) == 0.05


def test_a_jump_from_60_to_72_percent_on_500_leads_is_drift():
    model_input, predictions = batch(500, 0.72)
    report = compare_with_reference(PROFILE, model_input, predictions, limit=100.0)  # PSI cannot alarm
    assert report.status == "drifted"
    assert report.drifted_features == ("flagged share",)
    assert report.share_at_reference_cut == pytest.approx(0.72)
    assert "72.0% flagged, the policy flags 60.0% +/- 8.8%" in report.summary


def test_the_check_reads_the_share_actually_flagged_not_the_share_at_the_reference_cut():
    # 60% of the batch at the reference cut, as expected; but a rank pool flagged 80% of it
    model_input, predictions = batch(500, 0.6)
    predictions["predicted_label"] = [1] * 400 + [0] * 100
    report = compare_with_reference(PROFILE, model_input, predictions, limit=100.0)
    assert report.share_at_reference_cut == pytest.approx(0.6)
    assert report.status == "drifted" and report.drifted_features == ("flagged share",)
    # and the other way round: 72% at the cut, 60% flagged, is what the policy meant
    model_input, predictions = batch(500, 0.72)
    predictions["predicted_label"] = [1] * 300 + [0] * 200
    assert compare_with_reference(PROFILE, model_input, predictions, limit=100.0).status == "ok"


def test_a_small_move_or_a_small_batch_is_not():
    for leads, share in ((500, 0.66), (100, 0.72), (20, 0.9)):
        model_input, predictions = batch(leads, share)
        report = compare_with_reference(PROFILE, model_input, predictions, limit=100.0)
        assert report.status == "ok", (leads, share)


def test_a_drop_alarms_as_well_as_a_jump():
    observed, tolerance, outside = flagged_share_check(np.array([0.8] * 240 + [0.2] * 260), 0.5, 0.6)
    assert (observed, outside) == (0.48, True) and tolerance == pytest.approx(0.0876, abs=1e-4)


def test_a_model_without_an_expected_share_skips_the_check():
    model_input, predictions = batch(500, 0.9)
    report = compare_with_reference({**PROFILE, "positive_rate": float("nan")}, model_input, predictions, 100.0)
    assert report.status == "ok" and report.share_at_reference_cut is None


def test_psi_by_hand():
    from lead_scoring.core.monitoring import population_stability_index

    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    assert population_stability_index([0.3, 0.7], [0.3, 0.7]) == 0.0


def test_rare_levels_are_pooled_with_unseen_ones():
    from lead_scoring.core.monitoring import feature_psi

    reference = {"kind": "categorical", "shares": {"A": 0.60, "B": 0.37, "C": 0.03}}  # C is under 5%: pooled
    psi, bins = feature_psi(reference, pd.Series(["A"] * 6 + ["B"] * 3 + ["D"]))
    # A 0.6 vs 0.6, B 0.3 vs 0.37, pooled (C, D) 0.1 vs 0.03
    assert bins == 3
    assert psi == pytest.approx(-0.07 * np.log(0.3 / 0.37) + 0.07 * np.log(0.1 / 0.03), abs=1e-9)


def test_numeric_bins_are_open_at_both_ends():
    from lead_scoring.core.monitoring import feature_psi

    reference = {"kind": "numeric", "edges": ["-inf", 1.0, "inf"], "shares": [0.5, 0.5]}
    psi, bins = feature_psi(reference, pd.Series([0.0, -50.0, 0.5, 1.0]))  # 3 below 1; 1.0 is in [1, inf)
    assert bins == 2 and psi == pytest.approx(0.25 * np.log(1.5) - 0.25 * np.log(0.5), abs=1e-9)


def test_the_sampling_allowance_and_the_limits_edge():
    from lead_scoring.core.monitoring import sampling_allowance

    # chi-square with 2 degrees of freedom: its 0.999 quantile is -2 ln(0.001) = 13.8155; over n
    assert sampling_allowance(3, 100) == pytest.approx(-2 * np.log(0.001) / 100)
    assert sampling_allowance(1, 100) == 0.0
    profile = {
        "features": {"medium": {"kind": "categorical", "shares": {"A": 0.60, "B": 0.37, "C": 0.03}}},
        "scores": {"edges": [0.0, 1.0], "shares": [1.0]},
    }
    model_input = pd.DataFrame({"medium": (["A"] * 6 + ["B"] * 3 + ["D"]) * 100})
    predictions = pd.DataFrame({"score": [0.5] * 1000, "predicted_label": [1] * 1000})
    psi = -0.07 * np.log(0.3 / 0.37) + 0.07 * np.log(0.1 / 0.03)
    allowance = sampling_allowance(3, 1000)  # 0.0138
    just_under = compare_with_reference(profile, model_input, predictions, limit=psi - allowance + 1e-9)
    just_over = compare_with_reference(profile, model_input, predictions, limit=psi - allowance - 1e-9)
    assert just_under.status == "ok" and just_over.status == "drifted"
    assert just_over.drifted_features == ("medium",)


def test_thin_evidence_is_reported_only_where_the_batch_clearly_exceeds_the_training_leads():
    from lead_scoring.core.monitoring import unusual_against_training

    reference = {"missing_city": 0.04, "no_interactions": 0.97, "unseen_first_platform_c_raw": 0.0}
    counts = {"missing_city": 200, "no_interactions": 990, "unseen_first_platform_c_raw": 12, "unseen_city_mapped": 0}
    # no city: 20% against 4% (tolerance 5 points); no interactions: 99% is within 97% + 5 points;
    # a rare platform: 1.2% is within 0% + 5 points; a kind with no leads is never reported
    assert unusual_against_training(counts, 1000, reference) == {
        "missing_city": {"count": 200, "share": 0.2, "training_share": 0.04}
    }
    assert unusual_against_training({"missing_city": 90}, 1000, reference) == {}  # 9% is not past 4% + 5
    assert unusual_against_training({"missing_city": 91}, 1000, reference) != {}
    # a profile saved before it kept the share of leads with no interactions: reported as before
    assert unusual_against_training({"no_interactions": 990}, 1000, {}) == {
        "no_interactions": {"count": 990, "share": 0.99, "training_share": None}
    }


def test_the_reference_profile_keeps_the_training_shares_of_thin_evidence():
    from lead_scoring.core.features import MISSING, OTHER
    from lead_scoring.core.monitoring import thin_evidence_reference

    profile = {
        "features": {
            "city_mapped": {"kind": "categorical", "shares": {"mumbai": 0.9, OTHER: 0.06, MISSING: 0.04}},
            "first_platform_c_raw": {"kind": "categorical", "shares": {"Level0": 1.0}},
            "city_tier": {"kind": "numeric", "edges": [], "shares": []},
        },
        "thin_evidence": {"missing_city": 0.05, "no_interactions": 0.97},
    }
    assert thin_evidence_reference(profile) == {
        "unseen_city_mapped": 0.06,
        "unseen_first_platform_c_raw": 0.0,
        "missing_city": 0.05,  # the saved share wins over the city feature's (missing) level
        "no_interactions": 0.97,
    }
    assert thin_evidence_reference(None) == {}


# --- the reference profile, built by hand ------------------------------------------------------------


def test_the_reference_profile_of_ten_hand_built_training_leads():
    from lead_scoring.core.features import LeadFeatures
    from lead_scoring.core.monitoring import build_reference_profile
    from lead_scoring.core.policy import DecisionPolicy
    from tests.factories import model_input_frame

    nan = float("nan")
    leads = model_input_frame(
        10,
        city_tier=[1.0] * 5 + [3.0] * 5,
        referred_lead=[nan, nan, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # missing counts as 0
        syllabus_interaction=[nan, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        first_platform_c_raw=["Level0"] * 7 + ["Level3"] * 2 + [None],
        first_utm_source_c_raw=["Level1"] * 5 + ["Level2"] * 5,
        city_mapped=["mumbai"] * 6 + ["agra"] + [None] * 3,  # agra is seen once: other
    )
    features = LeadFeatures(min_count=2).fit(leads)
    profile = build_reference_profile(
        leads, features, np.array([0.05, 0.1, 0.55, 0.95, 1.0]), DecisionPolicy("validation", cut=0.35, share=0.25)
    )
    # deciles of five 0s and five 1s: 0, 0, 0, 0, 0.5, 1, 1, 1, 1 -> inner edges 0, 0.5, 1; bins are
    # [edge, next edge) so the 0s land in [0, 0.5) and the 1s in [1, inf)
    zero_one = {"kind": "numeric", "edges": ["-inf", 0.0, 0.5, 1.0, "inf"], "shares": [0.0, 0.5, 0.0, 0.5]}
    all_missing = {"kind": "numeric", "edges": ["-inf", 0.0, "inf"], "shares": [0.0, 1.0]}  # all 0 once filled
    assert profile["features"] == {
        # deciles of five 1s and five 3s: 1, 1, 1, 1, 2, 3, 3, 3, 3
        "city_tier": {"kind": "numeric", "edges": ["-inf", 1.0, 2.0, 3.0, "inf"], "shares": [0.0, 0.5, 0.0, 0.5]},
        "total_leads_droppped": all_missing,
        "referred_lead": zero_one,
        "assistance_interaction": all_missing,
        "career_interaction": all_missing,
        "payment_interaction": all_missing,
        "social_interaction": all_missing,
        "syllabus_interaction": zero_one,
        "first_platform_c_raw": {"kind": "categorical", "shares": {"Level0": 0.7, "Level3": 0.2, "(missing)": 0.1}},
        "first_utm_medium_c_raw": {"kind": "categorical", "shares": {"Level0": 1.0}},
        "first_utm_source_c_raw": {"kind": "categorical", "shares": {"Level1": 0.5, "Level2": 0.5}},
        "city_mapped": {"kind": "categorical", "shares": {"mumbai": 0.6, "(missing)": 0.3, "(other)": 0.1}},
    }
    assert profile["threshold"] == 0.35 and profile["positive_rate"] == 0.25
    assert profile["scores"]["edges"] == pytest.approx([i / 10 for i in range(11)])
    # 0.05 | 0.1 (on the edge: the upper bin) | 0.55 | 0.95 and 1.0 (the top bin is closed at 1)
    assert profile["scores"]["shares"] == [0.2, 0.2, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.4]
    # three of ten leads have no city; five have no interaction at all (rows 0-4)
    assert profile["thin_evidence"] == {"missing_city": 0.3, "no_interactions": 0.5}
    assert set(profile) == {"features", "threshold", "scores", "positive_rate", "thin_evidence"}


def test_the_thin_evidence_shares_are_over_the_training_leads_even_for_one_lead():
    from lead_scoring.core.features import LeadFeatures
    from lead_scoring.core.monitoring import build_reference_profile
    from lead_scoring.core.policy import DecisionPolicy
    from tests.factories import model_input_frame

    lead = model_input_frame(1, city_mapped=[None])
    profile = build_reference_profile(
        lead, LeadFeatures(min_count=1).fit(lead), np.array([0.5]), DecisionPolicy("rank", cut=0.5, share=0.1)
    )
    assert profile["thin_evidence"] == {"missing_city": 1.0, "no_interactions": 1.0}


def test_known_levels_are_the_learned_categorical_levels():
    from lead_scoring.core.monitoring import known_levels

    profile = {
        "features": {
            "city_mapped": {"kind": "categorical", "shares": {"mumbai": 0.6, "(missing)": 0.3, "(other)": 0.1}},
            "first_platform_c_raw": {"kind": "categorical", "shares": {"Level0": 0.7, "Level3": 0.3}},
            "city_tier": {"kind": "numeric", "edges": ["-inf", 1.0, "inf"], "shares": [0.5, 0.5]},
        }
    }
    assert known_levels(profile) == {"city_mapped": {"mumbai"}, "first_platform_c_raw": {"Level0", "Level3"}}
    assert known_levels(None) == {} and known_levels({}) == {}


# --- binning, PSI, pooling -----------------------------------------------------------------------------


def test_binning_keeps_a_share_for_every_bin_and_nothing_for_an_empty_batch():
    from lead_scoring.core.monitoring import _binned, _jsonable

    inf = float("inf")
    # 0.0 is in the first of three bins; the two bins above it stay (as 0) however empty
    assert _binned(pd.Series([0.0, -7.0]), [-inf, 1.0, 2.0, inf]) == [1.0, 0.0, 0.0]
    assert _binned(pd.Series([], dtype=float), [-inf, 0.5, inf]) == [0.0, 0.0]
    # a value on an inner edge belongs to the bin above it
    assert _binned(pd.Series([1.0, 2.0, 2.5, 0.5]), [-inf, 1.0, 2.0, inf]) == [0.25, 0.25, 0.5]
    assert _jsonable([-inf, 0.0, -1.5, inf]) == ["-inf", 0.0, -1.5, "inf"]


def test_a_learned_level_absent_from_the_batch_counts_as_half_a_lead():
    from lead_scoring.core.monitoring import feature_psi

    reference = {"kind": "categorical", "shares": {"A": 0.5, "B": 0.5}}
    psi, bins = feature_psi(reference, pd.Series(["A", "A"]))
    # A 1.0 vs 0.5, B half a lead of 2 (0.25) vs 0.5, pooled 0 vs 0 (both 1e-4: nothing)
    assert bins == 3
    assert psi == pytest.approx(0.5 * np.log(2.0) + (0.25 - 0.5) * np.log(0.25 / 0.5), abs=1e-9)  # 0.52
    # half a lead is never more than the share expected
    psi, _ = feature_psi({"kind": "categorical", "shares": {"A": 0.9, "B": 0.1}}, pd.Series(["A", "A"]))
    assert psi == pytest.approx(0.1 * np.log(1.0 / 0.9), abs=1e-9)  # B 0.1 vs 0.1: nothing


def test_a_level_at_exactly_the_pooling_share_keeps_its_own_bin():
    from lead_scoring.core.monitoring import feature_psi

    psi, bins = feature_psi({"kind": "categorical", "shares": {"A": 0.95, "B": 0.05}}, pd.Series(["A"] * 19 + ["B"]))
    assert (psi, bins) == (0.0, 3)  # A, B and the (empty) pool
    psi, bins = feature_psi({"kind": "categorical", "shares": {"A": 0.96, "B": 0.04}}, pd.Series(["A"] * 24 + ["B"]))
    assert (psi, bins) == (0.0, 2)  # B is pooled: A and the pool


def test_missing_numeric_values_are_binned_as_zero():
    from lead_scoring.core.monitoring import feature_psi

    reference = {"kind": "numeric", "edges": ["-inf", 0.5, "inf"], "shares": [0.5, 0.5]}
    assert feature_psi(reference, pd.Series([np.nan, 1.0])) == (0.0, 2)  # NaN -> 0 -> below 0.5


# --- the tolerances ---------------------------------------------------------------------------------


def test_a_batch_of_one_or_no_lead_is_judged_as_one_lead():
    from lead_scoring.core.monitoring import sampling_allowance

    assert share_tolerance(0.5, 1) == 2.0  # 4 * sqrt(0.25 / 1)
    assert share_tolerance(0.5, 0) == 2.0
    assert sampling_allowance(3, 1) == pytest.approx(-2 * np.log(0.001))  # 13.8155 / 1
    assert sampling_allowance(3, 0) == sampling_allowance(3, 1)


def test_the_flagged_share_at_exactly_the_tolerance_is_not_outside():
    # 64 leads at p = 0.5: 4 * sqrt(0.25 / 64) = 4 / 16 = 0.25, exactly; 48 of 64 = 0.75 = 0.5 + 0.25
    at_edge = np.array([0.9] * 48 + [0.1] * 16)
    assert flagged_share_check(at_edge, 0.5, 0.5) == (0.75, 0.25, False)
    past_edge = np.array([0.9] * 49 + [0.1] * 15)
    assert flagged_share_check(past_edge, 0.5, 0.5) == (0.765625, 0.25, True)


def test_a_score_equal_to_the_cut_is_flagged_and_an_empty_batch_never_alarms():
    observed, _, _ = flagged_share_check(np.array([0.5, 0.5, 0.4, 0.4999]), 0.5, 0.5)
    assert observed == 0.5
    observed, tolerance, outside = flagged_share_check(np.array([]), 0.5, 0.6)
    assert (observed, outside) == (0.0, False)
    assert tolerance == pytest.approx(4 * np.sqrt(0.24))  # judged as one lead: 1.96


# --- compare_with_reference: the whole report ------------------------------------------------------


TWO_FEATURES = {
    "features": {
        "b_medium": {"kind": "categorical", "shares": {"A": 0.5, "B": 0.5}},
        "a_tier": {"kind": "numeric", "edges": ["-inf", 2.0, "inf"], "shares": [0.5, 0.5]},
    },
    "scores": {"edges": [0.0, 0.5, 1.0], "shares": [0.5, 0.5]},
    "threshold": 0.5,
    "positive_rate": 0.5,
}


def quarter_three_quarters() -> tuple[pd.DataFrame, pd.DataFrame]:
    """100 leads: a_tier 1 for 25 and 3 for 75, medium half A half B, scores 0.2 for 25 and 0.8 for 75."""
    model_input = pd.DataFrame({"a_tier": [1.0] * 25 + [3.0] * 75, "b_medium": ["A", "B"] * 50})
    scores = np.array([0.2] * 25 + [0.8] * 75)
    return model_input, pd.DataFrame({"score": scores, "predicted_label": (scores >= 0.5).astype(int)})


# PSI of 0.25 / 0.75 against 0.5 / 0.5: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.274653
def test_a_batch_past_every_limit_gets_every_figure_of_its_report():
    from lead_scoring.core.monitoring import DriftReport

    model_input, predictions = quarter_three_quarters()
    report = compare_with_reference(TWO_FEATURES, model_input, predictions, limit=0.16)
    # limit + allowance = 0.16 + 10.8276 / 100 (chi-square, 1 degree of freedom, 0.999) = 0.2683 < 0.2747
    # for a_tier and the scores;
    # 75% at the cut against 50% +/- 4 sqrt(0.25 / 100) = 20%
    assert report == DriftReport(
        status="drifted",
        positive_share=0.75,
        summary=(
            "drift in a_tier, score, flagged share (a_tier PSI 0.275; score PSI 0.275; "
            "75.0% flagged, the policy flags 50.0% +/- 20.0%; limit 0.16 + sampling allowance, 100 leads)"
        ),
        expected_positive_share=0.5,
        share_at_reference_cut=0.75,
        share_tolerance=0.2,
        score_psi=0.2747,
        feature_psi={"b_medium": 0.0, "a_tier": 0.2747},
        max_feature_psi=0.2747,
        drifted_features=("a_tier", "score", "flagged share"),
    )
    assert report.metrics() == {
        "positive_share": 0.75,
        "expected_positive_share": 0.5,
        "share_at_reference_cut": 0.75,
        "share_tolerance": 0.2,
        "score_psi": 0.2747,
        "max_feature_psi": 0.2747,
    }


def test_a_batch_within_the_allowance_is_ok_and_names_its_largest_feature_psi():
    model_input, predictions = quarter_three_quarters()
    profile = {**TWO_FEATURES, "positive_rate": 0.75}  # the flagged share is as expected
    report = compare_with_reference(profile, model_input, predictions, limit=0.17)  # 0.2747 < 0.17 + 0.1083
    assert (report.status, report.drifted_features) == ("ok", ())
    assert report.summary == "largest feature PSI 0.275 (a_tier)"
    assert report.share_tolerance == 0.1732  # 4 sqrt(0.75 * 0.25 / 100) = 0.173205
    assert report.score_psi == 0.2747 and report.max_feature_psi == 0.2747


def test_a_psi_equal_to_limit_plus_allowance_is_not_drift():
    # one bin each: the PSI is 0 and the allowance 2 * 0 / n = 0, so 0 > 0 + 0 must not alarm
    profile = {
        "features": {"tier": {"kind": "numeric", "edges": ["-inf", "inf"], "shares": [1.0]}},
        "scores": {"edges": [0.0, 1.0], "shares": [1.0]},
    }
    predictions = pd.DataFrame({"score": [0.3, 0.6], "predicted_label": [0, 1]})
    report = compare_with_reference(profile, pd.DataFrame({"tier": [1.0, 2.0]}), predictions, limit=0.0)
    assert (report.status, report.drifted_features, report.score_psi) == ("ok", (), 0.0)


def test_the_share_figures_are_rounded_to_four_places():
    model_input, predictions = batch(3, 2 / 3)  # two of three at the cut
    report = compare_with_reference(PROFILE, model_input, predictions, limit=100.0)
    assert report.share_at_reference_cut == 0.6667
    assert report.share_tolerance == 1.1314  # 4 sqrt(0.24 / 3) = 1.131371


def test_a_profile_without_features_says_so_in_its_summary():
    model_input, predictions = batch(500, 0.6)
    report = compare_with_reference(PROFILE, model_input, predictions, limit=100.0)
    assert report.summary == "largest feature PSI 0.000 (None)"  # what it says today
    assert report.feature_psi == {} and report.max_feature_psi == 0.0


def test_no_reference_and_no_leads_are_reported_as_such():
    from lead_scoring.core.monitoring import DriftReport

    model_input, predictions = batch(4, 0.25)
    assert compare_with_reference(None, model_input, predictions, 0.1) == DriftReport(
        "no_reference", 0.25, summary="no reference"
    )
    empty_input, empty_predictions = batch(0, 0.0)
    assert compare_with_reference(PROFILE, empty_input, empty_predictions, 0.1) == DriftReport(
        "no_leads", 0.0, summary="no leads"
    )
    assert compare_with_reference(None, empty_input, empty_predictions, 0.1).status == "no_reference"
    one_input, one_prediction = batch(1, 1.0)
    assert compare_with_reference(PROFILE, one_input, one_prediction, 100.0).status == "ok"


def test_the_batch_is_compared_as_the_model_sees_it():
    """With the model's features, a level never learned is compared as the (other) bin it is scored as."""
    from lead_scoring.core.features import LeadFeatures
    from tests.factories import model_input_frame

    features = LeadFeatures(min_count=1).fit(model_input_frame(2))  # learns Level0 only
    profile = {
        "features": {"first_platform_c_raw": {"kind": "categorical", "shares": {"Level0": 0.5, "(other)": 0.5}}},
        "scores": {"edges": [0.0, 1.0], "shares": [1.0]},
    }
    leads = model_input_frame(4, first_platform_c_raw=["Level0", "Level0", "Level77", "Level78"])
    predictions = pd.DataFrame({"score": [0.5] * 4, "predicted_label": [1] * 4})
    report = compare_with_reference(profile, leads, predictions, limit=0.1, features=features)
    assert report.feature_psi == {"first_platform_c_raw": 0.0} and report.status == "ok"


# --- thin evidence ------------------------------------------------------------------------------------


def test_an_older_profile_takes_the_missing_city_share_from_the_city_feature():
    from lead_scoring.core.features import MISSING, OTHER
    from lead_scoring.core.monitoring import thin_evidence_reference

    city = {"kind": "categorical", "shares": {"mumbai": 0.9, OTHER: 0.06, MISSING: 0.04}}
    assert thin_evidence_reference({"features": {"city_mapped": city}}) == {
        "unseen_city_mapped": 0.06,
        "missing_city": 0.04,
    }
    platform = {"kind": "categorical", "shares": {"Level0": 0.8, OTHER: 0.2}}
    assert thin_evidence_reference({"features": {"first_platform_c_raw": platform}}) == {
        "unseen_first_platform_c_raw": 0.2
    }


def test_every_kind_of_thin_evidence_is_looked_at_and_its_share_rounded_to_four_places():
    from lead_scoring.core.monitoring import unusual_against_training

    counts = {"unseen_city_mapped": 0, "missing_city": 1}  # a kind with no lead before one with
    assert unusual_against_training(counts, 3, {}) == {
        "missing_city": {"count": 1, "share": 0.3333, "training_share": None}
    }


def test_the_reference_is_the_newest_four_weeks_of_training_leads_or_the_newest_thousand():
    from lead_scoring.core.monitoring import newest_leads

    # 600 leads on 2021-08-01, then 1,200 over the four weeks to 2021-09-30: those 1,200
    days = ["2021-08-01"] * 600 + [f"2021-09-{3 + i % 28:02d}" for i in range(1200)]
    frame = pd.DataFrame({"created_date": pd.to_datetime(days), "n": range(1800)})
    frame.loc[1799, "created_date"] = pd.Timestamp("2021-09-30")
    assert newest_leads(frame)["n"].tolist() == list(range(600, 1800))
    # 300 leads in the last four weeks: the newest 1,000 instead
    # 900 leads on 2021-07-01, 300 on 2021-09-30: the 300 and the last 700 of July (in file order)
    thin = pd.DataFrame({"created_date": pd.to_datetime(["2021-07-01"] * 900 + ["2021-09-30"] * 300), "n": range(1200)})
    assert sorted(newest_leads(thin)["n"].tolist()) == list(range(200, 1200))
    assert len(newest_leads(frame.head(999))) == 999  # fewer than a thousand: all of them
