"""Decisions that follow the base rate: a month with fewer conversions keeps its precision when the
policy is chosen on backtest months reweighted to the realized rate (a label-shift adjustment)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.policy import BacktestMonth, choose_policy, month_result
from lead_scoring.core.training import recent_base_rate

TARGET_PRECISION, TARGET_RECALL = 0.65, 0.75


def simulated_month(name: str, leads: int, base_rate: float, seed: int) -> BacktestMonth:
    """Scores of each class drawn from fixed distributions (AUC about 0.83, as the real leads' models
    score), ``base_rate`` of the leads converted."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(leads) < base_rate).astype(int)
    scores = np.clip(np.where(labels == 1, rng.normal(0.62, 0.16, leads), rng.normal(0.40, 0.16, leads)), 0.001, 0.999)
    return BacktestMonth(name, labels=labels, scores=scores, validation_cut=0.5)


def thinned(month: BacktestMonth, keep: float, seed: int) -> BacktestMonth:
    """The month with only ``keep`` of its converted leads: a simulated drop in conversions."""
    rng = np.random.default_rng(seed)
    kept = (month.labels == 0) | (rng.random(len(month.labels)) < keep)
    return BacktestMonth(month.month, month.labels[kept], month.scores[kept], month.validation_cut)


def flagged_as_chosen(choice, month: BacktestMonth):
    """The month's figures when the chosen policy flags it (a rank policy ranks the month's own leads)."""
    chosen = choice.chosen
    cut = month.rank_cut(chosen.parameter) if chosen.kind == "rank" else chosen.parameter
    return month_result(month, cut)


BACKTEST = [simulated_month(f"2021-0{m}", 4000, 0.52, seed=m) for m in (7, 8, 9)]


def test_precision_holds_when_conversions_drop_where_a_fixed_policy_loses_it():
    october = simulated_month("2021-10", 4000, 0.52, seed=10)
    fewer = thinned(october, keep=0.6, seed=1)  # 0.52 -> about 0.39 converted
    realized_rate = float(fewer.labels.mean())
    assert realized_rate == pytest.approx(0.39, abs=0.03)

    fixed = flagged_as_chosen(choose_policy(BACKTEST, TARGET_PRECISION, TARGET_RECALL), fewer)
    following = flagged_as_chosen(choose_policy(BACKTEST, TARGET_PRECISION, TARGET_RECALL, realized_rate), fewer)
    steady = flagged_as_chosen(choose_policy(BACKTEST, TARGET_PRECISION, TARGET_RECALL), october)

    assert steady.precision > TARGET_PRECISION  # before the drop the fixed policy meets the target
    assert fixed.precision < TARGET_PRECISION  # the cut or share chosen at the old rate: precision is lost
    assert following.precision > TARGET_PRECISION  # reweighted to the realized rate: it holds
    assert following.flagged_share < fixed.flagged_share - 0.05  # by flagging fewer


def test_nothing_changes_when_the_rate_is_steady():
    rate = float(np.mean(np.concatenate([m.labels for m in BACKTEST])))
    as_was = choose_policy(BACKTEST, TARGET_PRECISION, TARGET_RECALL)
    same_rate = [BacktestMonth(m.month, m.labels, m.scores, m.validation_cut) for m in BACKTEST]
    each_own = choose_policy(same_rate, TARGET_PRECISION, TARGET_RECALL, rate)
    assert each_own.chosen.kind == as_was.chosen.kind
    assert each_own.chosen.parameter == pytest.approx(as_was.chosen.parameter, abs=0.01)


def test_a_month_reweighted_to_its_own_rate_is_the_month():
    october = simulated_month("2021-10", 1000, 0.5, seed=3)
    rate = float(october.labels.mean())
    again = october.reweighted(rate)
    assert again.weights == pytest.approx((1.0, 1.0))
    assert month_result(again, 0.5).precision == pytest.approx(month_result(october, 0.5).precision)


def test_a_reweighted_month_counts_each_class_with_its_weight():
    """4 leads, 2 converted (rate 0.5) reweighted to 0.25: a converted lead counts 0.5, another 1.5."""
    month = BacktestMonth("2021-10", np.array([1, 1, 0, 0]), np.array([0.9, 0.6, 0.7, 0.2]), 0.5)
    result = month_result(month.reweighted(0.25), 0.5)  # flags 0.9 (yes), 0.6 (yes), 0.7 (no)
    assert result.precision == pytest.approx((0.5 + 0.5) / (0.5 + 0.5 + 1.5))
    assert result.recall == pytest.approx(1.0)
    assert result.flagged_share == pytest.approx(2.5 / 4.0)
    assert result.base_rate == pytest.approx(0.25)
    assert month.reweighted(0.25).rank_cut(0.5) == pytest.approx(0.7)  # 0.9 and 0.7 weigh 0.5 + 1.5 = half


def test_the_recent_base_rate_reads_the_latest_days_only():
    frame = pd.DataFrame(
        {
            "created_date": pd.to_datetime(["2021-09-01", "2021-09-25", "2021-09-28", "2021-09-30"]),
            "app_complete_flag": [1, 1, 0, 0],
        }
    )
    assert recent_base_rate(frame, days=7, min_leads=2) == pytest.approx(1 / 3)
    assert recent_base_rate(frame, days=7, min_leads=4) is None
