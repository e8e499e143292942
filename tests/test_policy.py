"""The decision policy: cuts, pooling, and the choice between kinds on hand-built backtest months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.policy import (
    BacktestMonth,
    DecisionPolicy,
    backtest_metrics,
    backtest_table,
    choose_policy,
    month_result,
    rank_cut,
)

# Position from the top (0 = highest score) of the 10 converted leads among 20: flagging the top 8
# gives precision 1.0, recall 0.8; the top 10: 0.9 / 0.9; the top 12: 10/12 = 0.833 / 1.0 (the best
# smaller slack to 0.65 / 0.75: min(0.183, 0.25)); the top 15: 0.667 / 1.0.
POSITIVE_POSITIONS = {0, 1, 2, 3, 4, 5, 6, 7, 9, 11}


def month(name: str, base: float, validation_cut: float) -> BacktestMonth:
    """20 leads scored base + 0.19 (top) down to base + 0.00, the converted ones at POSITIVE_POSITIONS."""
    scores = np.array([base + (19 - position) / 100 for position in range(20)])
    labels = np.array([int(position in POSITIVE_POSITIONS) for position in range(20)])
    return BacktestMonth(name, labels=labels, scores=scores, validation_cut=validation_cut)


def test_rank_cut_flags_the_top_share():
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0])
    assert rank_cut(scores, 0.3) == pytest.approx(0.8)  # 0.8, 0.9, 1.0 flagged
    policy = DecisionPolicy("rank", cut=0.95, share=0.3, min_pool=10)
    assert policy.labels(scores).tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0, 1]


def test_a_rank_policy_uses_its_reference_cut_until_enough_leads_are_pooled():
    policy = DecisionPolicy("rank", cut=0.9, share=0.5, min_pool=4)
    batch = np.array([0.35, 0.15])
    assert policy.cut_for(batch) == 0.9  # two leads: too few to rank
    assert policy.cut_for(batch, recent=np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.3)
    assert policy.labels(batch, recent=np.array([0.1, 0.2, 0.3, 0.4])).tolist() == [1, 0]


def test_a_shift_of_the_whole_score_scale_moves_an_absolute_cut_but_not_a_rank_cut():
    before = np.linspace(0.0, 0.8, 101)
    shifted = before + 0.2  # every lead scored 0.2 higher: the same ranking
    rank = DecisionPolicy("rank", cut=0.4, share=0.5, min_pool=50)
    fixed = DecisionPolicy("balanced", cut=0.4, share=0.5)
    assert fixed.labels(before).mean() == pytest.approx(0.5, abs=0.01)
    assert fixed.labels(shifted).mean() == pytest.approx(0.75, abs=0.01)
    assert rank.labels(shifted).mean() == pytest.approx(0.5, abs=0.01)


def test_policies_refuse_impossible_parameters():
    with pytest.raises(ValueError, match="must lie in"):
        DecisionPolicy("balanced", cut=1.5, share=0.5)
    with pytest.raises(ValueError, match="unknown policy kind"):
        DecisionPolicy("top", cut=0.5, share=0.5)  # type: ignore[arg-type]


def test_month_result_is_computed_from_scores_and_labels():
    result = month_result(month("2021-10", 0.1, 0.0), cut=0.1 + 8 / 100)  # scores >= 0.18: the top 12
    assert (result.leads, result.base_rate) == (20, 0.5)
    assert result.precision == pytest.approx(10 / 12) and result.recall == 1.0
    assert result.flagged_share == pytest.approx(0.6)
    assert 0.5 < result.auc < 1.0


def test_the_rank_rule_wins_when_each_month_scores_on_its_own_scale():
    # the same ranking each month, on three different scales: no one absolute cut fits all three
    months = [month("2021-09", 0.10, 0.15), month("2021-10", 0.40, 0.45), month("2021-11", 0.25, 0.30)]
    choice = choose_policy(months, target_precision=0.65, target_recall=0.75)
    assert choice.chosen.kind == "rank"
    # flagging 12 of 20 (shares 0.58 .. 0.63 of the grid) is best; the middle of that stretch is kept
    assert choice.chosen.parameter == pytest.approx(0.605)
    assert choice.chosen.worst_slack == pytest.approx(10 / 12 - 0.65)
    by_kind = {c.kind: c for c in choice.candidates}
    # the validation cuts flag the top 15 each month: precision 10/15
    assert by_kind["validation"].worst_slack == pytest.approx(10 / 15 - 0.65)
    assert by_kind["balanced"].worst_slack < 0  # any one cut floods one month or starves another
    assert choice.reason.startswith("rank: worst backtest month slack +0.183")


def test_the_balanced_cut_wins_when_the_validation_cuts_land_outside_and_ties_go_to_rank():
    months = [month("2021-09", 0.10, 0.05), month("2021-10", 0.10, 0.27), month("2021-11", 0.10, 0.15)]
    choice = choose_policy(months, target_precision=0.65, target_recall=0.75)
    by_kind = {c.kind: c for c in choice.candidates}
    assert by_kind["validation"].worst_slack < 0  # 0.05 flags all 20 leads: precision 0.5
    # one scale: the balanced cut (0.18) and the rank share both flag the top 12 each month
    assert by_kind["balanced"].worst_slack == pytest.approx(by_kind["rank"].worst_slack)
    assert by_kind["balanced"].parameter == pytest.approx(0.18)
    assert choice.chosen.kind == "rank"


def test_backtest_metrics_and_table_name_each_month():
    months = [month("2021-09", 0.10, 0.15), month("2021-10", 0.40, 0.45), month("2021-11", 0.25, 0.30)]
    choice = choose_policy(months, target_precision=0.65, target_recall=0.75)
    metrics = backtest_metrics(choice)
    assert metrics["backtest_2021_10_precision"] == pytest.approx(10 / 12)
    assert metrics["backtest_2021_11_recall"] == 1.0
    assert metrics["backtest_2021_09_flagged_share"] == pytest.approx(0.6)
    assert metrics["backtest_min_precision"] == pytest.approx(10 / 12)
    assert metrics["backtest_months"] == 3
    table = pd.DataFrame(backtest_table(choice))
    assert len(table) == 9  # three kinds x three months
    assert table.loc[table["chosen"], "policy"].unique().tolist() == ["rank"]


def test_no_backtest_month_is_refused():
    with pytest.raises(ValueError, match="no backtest months"):
        choose_policy([], 0.65, 0.75)


def test_daily_labels_rank_each_day_among_the_days_before_it():
    from lead_scoring.policy import daily_labels

    policy = DecisionPolicy("rank", cut=0.65, share=0.5, min_pool=4)
    days = np.array(["d1", "d1", "d1", "d2", "d2", "d3", "d3"])
    scores = np.array([0.6, 0.7, 0.2, 0.5, 0.3, 0.45, 0.1])
    # d1: 3 leads alone, the reference cut 0.65 -> only 0.7
    # d2: pooled with d1 (5 scores: 0.2 0.3 0.5 0.6 0.7), median "higher" 0.5 -> 0.5 flagged
    # d3: the pool of 2 is the latest two (0.5, 0.3) + the day's (0.45, 0.1): cut 0.45 -> 0.45 flagged
    assert daily_labels(policy, scores, days, pool=2).tolist() == [0, 1, 0, 1, 0, 1, 0]
    # no pool at all: every day alone is too small, the reference cut throughout
    assert daily_labels(policy, scores, days, pool=0).tolist() == [0, 1, 0, 0, 0, 0, 0]


def test_leads_scoring_exactly_the_cut_are_flagged():
    tied = BacktestMonth(
        "2021-10", labels=np.array([1, 0, 1, 0]), scores=np.array([0.5, 0.5, 0.4, 0.1]), validation_cut=0
    )
    result = month_result(tied, 0.5)
    assert (result.flagged_share, result.precision, result.recall) == (0.5, 0.5, 0.5)
    assert month_result(tied, 0.41).flagged_share == 0.5 and month_result(tied, 0.4).recall == 1.0
    assert month_result(tied, 0.99).precision == 0.0  # nothing flagged
