"""The decision policy: cuts, pooling, and the choice between kinds on hand-built backtest months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.policy import (
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


def test_backtest_table_rows_round_every_figure_to_four_places():
    from lead_scoring.core.policy import Candidate, MonthResult, PolicyChoice

    result = MonthResult("2021-10", 7, base_rate=3 / 7, auc=11 / 12, precision=2 / 3, recall=5 / 7,
                         flagged_share=4 / 7, cut=0.123456)  # fmt: skip
    chosen = Candidate("rank", parameter=4 / 7, months=(result,), worst_slack=0.0)
    other = Candidate("balanced", parameter=0.5, months=(result,), worst_slack=-0.1)
    rows = backtest_table(PolicyChoice(chosen=chosen, candidates=(chosen, other), reason="test"))
    figures = {"month": "2021-10", "leads": 7, "base_rate": 0.4286, "auc": 0.9167, "precision": 0.6667,
               "recall": 0.7143, "flagged_share": 0.5714, "cut": 0.1235}  # fmt: skip
    assert rows == [
        {"policy": "rank", "chosen": True, "parameter": 4 / 7, **figures},
        {"policy": "balanced", "chosen": False, "parameter": 0.5, **figures},
    ]


def test_no_backtest_month_is_refused():
    with pytest.raises(ValueError, match="no backtest months"):
        choose_policy([], 0.65, 0.75)


def test_daily_labels_rank_each_day_among_the_days_before_it():
    from lead_scoring.core.policy import daily_labels

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


@pytest.mark.parametrize("cut, share", [(0.0, 0.0), (1.0, 1.0), (0.0, float("nan"))])
def test_a_policy_may_sit_on_the_edges_of_zero_and_one(cut, share):
    policy = DecisionPolicy("balanced", cut=cut, share=share)
    assert policy.cut == cut


@pytest.mark.parametrize("cut, share", [(-0.01, 0.5), (1.01, 0.5), (0.5, -0.01), (0.5, 1.01)])
def test_a_policy_outside_zero_and_one_is_refused_word_for_word(cut, share):
    with pytest.raises(ValueError) as raised:
        DecisionPolicy("balanced", cut=cut, share=share)
    assert str(raised.value) == f"policy cut {cut} and share {share} must lie in [0, 1]"


def test_a_pool_of_one_day_is_still_a_pool():
    from lead_scoring.core.policy import daily_labels

    policy = DecisionPolicy("rank", cut=0.95, share=0.5, min_pool=3)
    days = np.array(["d1", "d1", "d2", "d2"])
    scores = np.array([0.9, 0.1, 0.6, 0.2])
    # d2 pooled with the one latest score (0.1): 0.1 0.2 0.6, median "higher" 0.2 -> 0.6 and 0.2 flagged
    assert daily_labels(policy, scores, days, pool=1).tolist() == [0, 0, 1, 1]


def test_a_month_without_leads_or_positives_has_zero_figures():
    empty = month_result(BacktestMonth("2021-10", np.array([], dtype=int), np.array([]), 0.5), 0.5)
    assert (empty.leads, empty.base_rate, empty.precision, empty.recall, empty.flagged_share) == (0, 0.0, 0.0, 0.0, 0.0)
    none_converted = BacktestMonth("2021-11", np.array([0, 0]), np.array([0.9, 0.1]), 0.5)
    result = month_result(none_converted, 0.5)
    assert (result.base_rate, result.precision, result.recall, result.flagged_share) == (0.0, 0.0, 0.0, 0.5)


def test_month_result_counts_every_positive_and_flags_from_the_lowest_score_at_the_cut():
    # scores sorted 0.1 0.2 0.3 0.4 with labels 1 0 1 1: 3 positives, the lowest one converted
    m = BacktestMonth("2021-10", labels=np.array([1, 1, 0, 1]), scores=np.array([0.4, 0.3, 0.2, 0.1]), validation_cut=0)
    result = month_result(m, 0.3)  # 0.3 and 0.4 flagged, both converted
    assert (result.precision, result.recall, result.flagged_share, result.base_rate) == (1.0, 2 / 3, 0.5, 0.75)


def test_the_choice_names_the_others_and_its_figures():
    months = [month("2021-09", 0.10, 0.15), month("2021-10", 0.40, 0.45), month("2021-11", 0.25, 0.30)]
    choice = choose_policy(months, target_precision=0.65, target_recall=0.75)
    by_kind = {c.kind: c for c in choice.candidates}
    assert np.isnan(by_kind["validation"].parameter)
    assert choice.reason == (
        f"rank: worst backtest month slack +0.183 to the targets "
        f"(vs balanced {by_kind['balanced'].worst_slack:+.3f}, validation +0.017)"
    )
    assert backtest_metrics(choice)["backtest_worst_slack"] == pytest.approx(10 / 12 - 0.65)
    rows = backtest_table(choice)
    assert rows[0] == {
        "policy": "rank",
        "chosen": True,
        "parameter": pytest.approx(0.605),
        "month": "2021-09",
        "leads": 20,
        "base_rate": 0.5,
        "auc": round(by_kind["rank"].months[0].auc, 4),
        "precision": 0.8333,
        "recall": 1.0,
        "flagged_share": 0.6,
        "cut": 0.18,
    }
    assert [(r["policy"], r["chosen"], r["month"]) for r in rows[3:]] == [
        ("balanced", False, "2021-09"),
        ("balanced", False, "2021-10"),
        ("balanced", False, "2021-11"),
        ("validation", False, "2021-09"),
        ("validation", False, "2021-10"),
        ("validation", False, "2021-11"),
    ]


def test_the_policy_describes_itself_and_logs_its_parameters():
    rank = DecisionPolicy("rank", cut=0.4321, share=0.57, min_pool=1000)
    assert (
        rank.describe()
        == "rank: flag the top 57.0% of recently scored leads (reference cut 0.432 until 1000 leads are pooled)"
    )
    balanced = DecisionPolicy("balanced", cut=0.3, share=0.25)
    assert balanced.describe() == "balanced cut: flag a score >= 0.300 (expected share 25.0%)"
    validation = DecisionPolicy("validation", cut=0.3, share=0.25)
    assert validation.describe() == "validation rule: flag a score >= 0.300 (expected share 25.0%)"
    assert rank.as_params() == {"policy": "rank", "policy_cut": 0.4321, "policy_share": 0.57, "policy_min_pool": 1000}


def test_no_scores_cannot_be_ranked():
    with pytest.raises(ValueError) as raised:
        rank_cut(np.array([]), 0.5)
    assert str(raised.value) == "no scores to rank"
    with pytest.raises(ValueError) as raised:
        choose_policy([], 0.65, 0.75)
    assert str(raised.value) == "no backtest months to choose a policy on"


def test_flags_are_integers_whatever_the_scores_come_as():
    """0/1 flags are stored as integers (`predictions.predicted_label`), not floats, from any input."""
    from lead_scoring.core.policy import daily_labels

    policy = DecisionPolicy("rank", cut=0.5, share=0.5, min_pool=2)
    assert policy.labels(np.array([0.2, 0.7])).dtype == np.int64
    assert policy.labels([0.2, 0.7], recent=[0.1, 0.9]).tolist() == [0, 1]  # plain lists are scores too
    days = np.array(["d1", "d2"])
    labels = daily_labels(policy, [0.2, 0.7], days, pool=5)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1]
    assert rank_cut([1, 2, 3, 4], 0.5) == 3.0
