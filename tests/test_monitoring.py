"""The flagged-share alarm: a batch whose share at the reference cut strays past a binomial tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.monitoring import compare_with_reference, flagged_share_check, share_tolerance


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
    assert "72.0% of the batch at the reference cut, expected 60.0%" in report.summary


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
    from lead_scoring.monitoring import population_stability_index

    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    assert population_stability_index([0.3, 0.7], [0.3, 0.7]) == 0.0


def test_rare_levels_are_pooled_with_unseen_ones():
    from lead_scoring.monitoring import feature_psi

    reference = {"kind": "categorical", "shares": {"A": 0.60, "B": 0.37, "C": 0.03}}  # C is under 5%: pooled
    psi, bins = feature_psi(reference, pd.Series(["A"] * 6 + ["B"] * 3 + ["D"]))
    # A 0.6 vs 0.6, B 0.3 vs 0.37, pooled (C, D) 0.1 vs 0.03
    assert bins == 3
    assert psi == pytest.approx(-0.07 * np.log(0.3 / 0.37) + 0.07 * np.log(0.1 / 0.03), abs=1e-9)


def test_numeric_bins_are_open_at_both_ends():
    from lead_scoring.monitoring import feature_psi

    reference = {"kind": "numeric", "edges": ["-inf", 1.0, "inf"], "shares": [0.5, 0.5]}
    psi, bins = feature_psi(reference, pd.Series([0.0, -50.0, 0.5, 1.0]))  # 3 below 1; 1.0 is in [1, inf)
    assert bins == 2 and psi == pytest.approx(0.25 * np.log(1.5) - 0.25 * np.log(0.5), abs=1e-9)


def test_the_sampling_allowance_and_the_limits_edge():
    from lead_scoring.monitoring import sampling_allowance

    assert sampling_allowance(3, 100) == pytest.approx(0.04)  # twice (k - 1) / n
    assert sampling_allowance(1, 100) == 0.0
    profile = {
        "features": {"medium": {"kind": "categorical", "shares": {"A": 0.60, "B": 0.37, "C": 0.03}}},
        "scores": {"edges": [0.0, 1.0], "shares": [1.0]},
    }
    model_input = pd.DataFrame({"medium": (["A"] * 6 + ["B"] * 3 + ["D"]) * 100})
    predictions = pd.DataFrame({"score": [0.5] * 1000, "predicted_label": [1] * 1000})
    psi = -0.07 * np.log(0.3 / 0.37) + 0.07 * np.log(0.1 / 0.03)
    allowance = sampling_allowance(3, 1000)  # 0.004
    just_under = compare_with_reference(profile, model_input, predictions, limit=psi - allowance + 1e-9)
    just_over = compare_with_reference(profile, model_input, predictions, limit=psi - allowance - 1e-9)
    assert just_under.status == "ok" and just_over.status == "drifted"
    assert just_over.drifted_features == ("medium",)


def test_thin_evidence_is_reported_only_where_the_batch_clearly_exceeds_the_training_leads():
    from lead_scoring.monitoring import unusual_against_training

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
    from lead_scoring.features import MISSING, OTHER
    from lead_scoring.monitoring import thin_evidence_reference

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
