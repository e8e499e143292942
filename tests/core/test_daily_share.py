"""The day's share follows the base rate (core.daily_share): calibration refreshed on labelled leads,
the base rate of unlabelled leads re-estimated by EM (Saerens et al. 2002), the share with the most
room to both targets. Simulated months: each class's log-odds normal, one apart from the other
(AUC about 0.84), the labelled weeks at 52% conversions."""

from __future__ import annotations

import numpy as np
import pytest

from lead_scoring.core.daily_share import ShareRule, calibrated, choose_share, em_prior, platt_fit, shift_prior

RULE = ShareRule(target_precision=0.65, target_recall=0.75, margin=0.02, min_labelled=200)


def month(rng: np.random.Generator, leads: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of a month with ``rate`` conversions (the class score distributions fixed)."""
    labels = (rng.random(leads) < rate).astype(int)
    logits = np.where(labels == 1, rng.normal(0.7, 1.0, leads), rng.normal(-0.7, 1.0, leads))
    return 1.0 / (1.0 + np.exp(-(0.9 * logits + 0.1))), labels


def flagged_figures(scores: np.ndarray, labels: np.ndarray, share: float) -> tuple[float, float]:
    flagged = scores >= np.quantile(scores, 1.0 - share, method="higher")
    return float(labels[flagged].mean()), float(labels[flagged].sum() / labels.sum())


def test_a_drop_in_conversions_lowers_the_share_and_precision_holds():
    rng = np.random.default_rng(7)
    served, labels = month(rng, 1500, 0.52)  # the labelled weeks, as served
    steady, steady_labels = month(rng, 2000, 0.52)
    dropped, dropped_labels = month(rng, 2000, 0.46)  # the weeks after: unlabelled yet
    before = choose_share(RULE, 0.6, steady, served, labels)
    after = choose_share(RULE, 0.6, dropped, served, labels)
    assert before.adapted and after.adapted and not after.disagree
    assert after.estimate is not None and abs(after.estimate - dropped_labels.mean()) < 0.03  # seen before its labels
    assert after.share < before.share - 0.03
    precision, recall = flagged_figures(dropped, dropped_labels, after.share)
    assert precision > 0.65 + RULE.margin and recall > 0.75
    # the share of the steady weeks kept through the drop loses precision the adapted share keeps
    assert flagged_figures(dropped, dropped_labels, before.share)[0] < precision - 0.015
    assert flagged_figures(steady, steady_labels, before.share)[0] > 0.65


def test_an_estimate_far_from_the_labelled_rate_is_not_followed():
    rng = np.random.default_rng(7)
    served, labels = month(rng, 1500, 0.52)
    # scores that all moved down by 0.6 log-odds with conversions unchanged: not a label shift
    steady, steady_labels = month(rng, 2000, 0.52)
    lowered = 1.0 / (1.0 + np.exp(-(np.log(steady / (1.0 - steady)) - 0.6)))
    decision = choose_share(RULE, 0.6, lowered, served, labels)
    assert decision.estimate is not None and decision.estimate < 0.52 - RULE.tolerance
    assert decision.disagree and "labelled rate is followed" in decision.reason
    # the labelled rate decides: the same ranks, so the same leads as on the unmoved scores
    assert decision.share == choose_share(RULE, 0.6, steady, served, labels).share
    precision, recall = flagged_figures(steady, steady_labels, decision.share)
    assert precision > 0.65 and recall > 0.75


def test_too_few_labelled_leads_keep_the_trained_share():
    rng = np.random.default_rng(1)
    served, labels = month(rng, 150, 0.5)
    decision = choose_share(RULE, 0.58, month(rng, 2000, 0.4)[0], served, labels)
    assert decision.status == "trained" and decision.share == 0.58 and decision.estimate is None
    one_class = choose_share(RULE, 0.58, served, served[:300].repeat(2), np.ones(600))
    assert one_class.status == "trained"


def test_shift_prior_is_bayes_with_the_class_likelihoods_kept():
    # posterior 0.5 at prior 0.5: equal likelihoods, so the posterior is the new prior
    assert shift_prior(np.array([0.5]), 0.5, 0.25)[0] == pytest.approx(0.25)
    # posterior 0.8 at prior 0.5 (likelihood ratio 4), at prior 0.2 (prior odds 1/4): odds 1, 0.5
    assert shift_prior(np.array([0.8]), 0.5, 0.2)[0] == pytest.approx(0.5)


def test_em_finds_the_base_rate_of_unlabelled_leads_and_platt_the_calibration():
    rng = np.random.default_rng(3)
    scores, labels = month(rng, 20000, 0.5)
    a, b = platt_fit(scores, labels)
    # the simulated scores are sigmoid(0.9 z + 0.1) with z's class log-likelihood ratio 1.4 z: a = 1.4 / 0.9
    assert a == pytest.approx(1.4 / 0.9, rel=0.05)
    thinner, thinner_labels = month(rng, 20000, 0.3)
    estimate = em_prior(calibrated(thinner, a, b), float(labels.mean()))
    assert estimate == pytest.approx(thinner_labels.mean(), abs=0.015)


def test_a_disagreement_is_an_alarm_of_its_own_not_a_feature_to_ask_marketing_about():
    from lead_scoring.core.alarms import BASE_RATE, suggested_action

    action = suggested_action([BASE_RATE], "2021-10-22")
    assert "follow the labelled rate" in action and "ask marketing" not in action
