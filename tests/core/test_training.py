"""Unit tests of the pure training functions on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core import backtest as backtest_module
from lead_scoring.core import fitting, training
from lead_scoring.core.backtest import backtest, backtest_month_starts
from lead_scoring.core.fitting import (
    check_sufficiency,
    choose_threshold,
    classification_metrics,
    fit_scorer,
    split_by_time,
)
from lead_scoring.core.knobs import BacktestKnobs
from lead_scoring.core.targets import Targets
from lead_scoring.core.training import Comparison, decide_promotion
from lead_scoring.errors import InsufficientDataError
from tests.factories import training_knobs

TARGETS = Targets(auc=0.75, precision=0.65, recall=0.75)


def versus(champion_auc: float, candidate_auc: float = 0.80) -> Comparison:
    """Champion v1 and the candidate's recipe, both fitted to leads up to 2021-09-30, on the same 300 later leads."""
    return Comparison(
        champion_version="1",
        cutoff="2021-09-30 23:50:00",
        leads=300,
        first="2021-10-01 00:10:00",
        last="2021-10-07 22:00:00",
        candidate={"auc": candidate_auc, "precision": 0.70, "recall": 0.80},
        champion={"auc": champion_auc, "precision": 0.69, "recall": 0.81},
    )


def leads(n: int = 100, positive_every: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_date": pd.date_range("2021-07-01", periods=n, freq="h"),
            "app_complete_flag": [int(i % positive_every == 0) for i in range(n)],
        }
    )


def test_split_holds_out_the_newest_leads():
    frame = leads(100).sample(frac=1, random_state=1)  # order must not matter
    fit, valid = split_by_time(frame, 0.2)
    assert len(valid) == 20 and len(fit) == 80
    assert fit["created_date"].max() < valid["created_date"].min()


def test_split_refuses_a_one_class_side():
    frame = leads(100)
    frame.loc[frame.index >= 80, "app_complete_flag"] = 0
    with pytest.raises(InsufficientDataError, match="validation leads hold one class"):
        split_by_time(frame, 0.2)


def test_sufficiency_counts_leads_and_both_classes():
    check_sufficiency(leads(100), min_leads=100, min_conversions=50)
    with pytest.raises(InsufficientDataError, match="only 99 lead"):
        check_sufficiency(leads(99), min_leads=100, min_conversions=10)
    with pytest.raises(InsufficientDataError, match="10 converted"):
        check_sufficiency(leads(100, positive_every=10), min_leads=10, min_conversions=20)
    with pytest.raises(InsufficientDataError) as raised:
        check_sufficiency(leads(100).drop(columns=["app_complete_flag"]), 1, 1)
    assert str(raised.value) == "model_input has no app_complete_flag column: it holds leads to score, not to learn"


def test_threshold_is_the_most_precise_cut_that_keeps_recall():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.05])
    assert choose_threshold(y, s, min_recall=0.75) == pytest.approx(0.7)
    assert choose_threshold(y, s, min_recall=1.0) == pytest.approx(0.3)


def test_metrics_come_from_probabilities_of_the_positive_class():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1])
    m = classification_metrics(y, s, threshold=0.5)
    assert m["auc"] == pytest.approx(0.75)  # from scores, not from 0/1 predictions (that would be 0.5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["positive_rate"] == pytest.approx(0.5)


def test_promotion_needs_all_targets_and_no_regression():
    good = {"auc": 0.80, "precision": 0.70, "recall": 0.80}
    assert decide_promotion(good, None, TARGETS, 0.005).promote
    assert not decide_promotion({**good, "recall": 0.74}, None, TARGETS, 0.005).promote
    worse = decide_promotion(good, versus(0.82), TARGETS, 0.005, champion="1")
    assert not worse.promote and any("worse than champion" in r for r in worse.reasons)
    assert decide_promotion(good, versus(0.804), TARGETS, 0.005, champion="1").promote  # within tolerance


def test_signature_takes_what_scoring_meets():
    """Null-able text columns, optional lead id, doubles for counts, datetime for the creation date."""
    from lead_scoring.adapters.mlflow.pyfunc import model_signature

    frame = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_date": pd.to_datetime(["2021-07-01 10:00", "2021-07-02 11:00"]),
            "city_mapped": ["pune", "agra"],
            "first_platform_c_raw": ["Level0", "Level1"],
            "referred_lead": [1.0, 0.0],
            "syllabus_interaction": [2.0, 0.0],
            "app_complete_flag": [1, 0],
        }
    )
    specs = {spec.name: spec for spec in model_signature(frame).inputs.inputs}
    assert "app_complete_flag" not in specs
    assert specs["created_date"].type.name == "datetime"
    assert specs["referred_lead"].type.name == "double" and specs["referred_lead"].required
    for col in ("lead_id", "city_mapped", "first_platform_c_raw"):
        assert specs[col].type.name == "string" and not specs[col].required
    outputs = [spec.name for spec in model_signature(frame).outputs.inputs]
    assert outputs == ["score", "predicted_label", "top_reasons"]


@pytest.mark.parametrize("missed", ["auc", "precision", "recall"])
def test_each_validation_target_alone_blocks_promotion(missed):
    good = {"auc": 0.80, "precision": 0.70, "recall": 0.80}
    low = {"auc": 0.70, "precision": 0.60, "recall": 0.70}[missed]
    decision = decide_promotion({**good, missed: low}, None, TARGETS, 0.005)
    assert not decision.promote
    assert f"{missed} {low:.3f} misses target" in "; ".join(decision.reasons)


@pytest.mark.parametrize("missed", ["auc", "precision", "recall"])
def test_each_target_missed_in_the_worst_backtest_month_blocks_promotion(missed):
    good = {"auc": 0.80, "precision": 0.70, "recall": 0.80}
    worst = {**good, missed: {"auc": 0.74, "precision": 0.64, "recall": 0.74}[missed], "months": 3}
    decision = decide_promotion(good, None, TARGETS, 0.005, worst)
    assert not decision.promote
    assert f"worst backtest month {missed} {worst[missed]:.3f} misses target" in "; ".join(decision.reasons)
    passed = decide_promotion(good, None, TARGETS, 0.005, {**good, "months": 3})
    assert passed.promote and "backtested on 3 month(s)" in passed.reasons


def test_without_backtest_months_the_gate_says_so():
    good = {"auc": 0.80, "precision": 0.70, "recall": 0.80}
    decision = decide_promotion(good, None, TARGETS, 0.005, None)
    assert decision.promote and any("no backtest month" in r for r in decision.reasons)


def monthly(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Leads per month as (leads, converted), one a day up to noon of the month's last day."""
    frames = []
    for month, (n, converted) in counts.items():
        last_day = pd.Period(month, freq="M").end_time.normalize()
        frames.append(
            pd.DataFrame(
                {
                    "created_date": pd.date_range(end=last_day + pd.Timedelta(hours=12), periods=n, freq="D"),
                    "app_complete_flag": [1] * converted + [0] * (n - converted),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_backtest_months_are_the_last_ones_with_enough_history_before_them():
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 2), "2021-10": (4, 2)})
    as_text = lambda months: [str(m) for m in months]  # noqa: E731
    assert as_text(backtest_month_starts(frame, 3, min_leads=4, min_conversions=2)) == ["2021-08", "2021-09", "2021-10"]
    assert as_text(backtest_month_starts(frame, 2, min_leads=4, min_conversions=2)) == ["2021-09", "2021-10"]
    # July alone is too little to fit on: August cannot be backtested
    assert as_text(backtest_month_starts(frame, 3, min_leads=8, min_conversions=2)) == ["2021-09", "2021-10"]
    # a month of one class cannot be graded; it still counts as history for the next
    one_class = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 0), "2021-10": (4, 2)})
    assert as_text(backtest_month_starts(one_class, 3, min_leads=4, min_conversions=2)) == ["2021-08", "2021-10"]
    # a month with too few of a class is too noisy to grade
    thin = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 1), "2021-10": (4, 2)})
    assert as_text(backtest_month_starts(thin, 3, min_leads=4, min_conversions=2)) == ["2021-08", "2021-10"]


def test_the_month_still_running_is_not_backtested():
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 2), "2021-10": (6, 3)})
    assert frame["created_date"].max() == pd.Timestamp("2021-10-31 12:00")  # October is whole
    assert [str(m) for m in backtest_month_starts(frame, 3, 4, 2)] == ["2021-08", "2021-09", "2021-10"]
    running = frame[frame["created_date"] < "2021-10-31"]  # newest from Oct 30; 3 and 2 of each class left
    assert [str(m) for m in backtest_month_starts(running, 3, 4, 2)] == ["2021-08", "2021-09"]


def _generated_model_input(settings, rows: int = 3000) -> pd.DataFrame:
    from lead_scoring.adapters.mapping_files import load_mappings
    from lead_scoring.core.validation import validate_raw_leads
    from lead_scoring.lab.generate import generate_leads
    from lead_scoring.pipelines.data import transform_leads
    from tests.factories import as_text

    raw = as_text(generate_leads(rows, seed=5, start="2021-07-01", end="2021-12-31"))
    validated, _ = validate_raw_leads(raw, "test")
    return transform_leads(validated, load_mappings(settings))["model_input"]


FOLD_PARAMS = {**fitting.LIGHTGBM_PARAMS, "n_estimators": 20}


def _spy_fits(monkeypatch) -> list[pd.Timestamp]:  # noqa: ANN001
    newest_fitted = []  # the newest lead each fitted model saw

    def spy(frame, *args, **kwargs):  # noqa: ANN001, ANN202
        newest_fitted.append(frame["created_date"].max())
        return fit_scorer(frame, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit_scorer", spy)
    return newest_fitted


def test_each_backtest_month_is_scored_by_a_model_that_never_saw_it(settings, monkeypatch):
    model_input = _generated_model_input(settings)
    newest_fitted = _spy_fits(monkeypatch)
    folds = backtest(
        model_input,
        BacktestKnobs(months=3, validation_share=0.2, min_leads=500, min_conversions=100, max_leads=0),
        min_recall=0.83,
        min_level_count=30,
        params={"n_estimators": 20},
    )
    months = model_input["created_date"].dt.strftime("%Y-%m")
    assert [f.month for f in folds] == ["2021-10", "2021-11", "2021-12"]
    for fold in folds:
        inside = model_input[months == fold.month]
        assert fold.leads == len(inside)
        assert fold.labels.tolist() == inside["app_complete_flag"].tolist()
        assert 0 <= fold.validation_cut <= 1 and np.all((fold.scores > 0) & (fold.scores < 1))
    # one fit a month, each on the leads before it, and one more for September, whose out-of-time
    # scores set October's validation cut: no second fit per month for the validation rule
    assert sorted(newest_fitted) == [
        model_input.loc[months < m, "created_date"].max() for m in ("2021-09", *months_of(folds))
    ]
    # the validation rule's cut of each month: chosen on the month before it, as its fold model scored it
    for previous, fold in zip(folds, folds[1:], strict=False):
        assert fold.validation_cut == choose_threshold(previous.labels, previous.scores, 0.83)
    september = fit_scorer(model_input[months < "2021-09"], FOLD_PARAMS, 30)
    in_september = model_input[months == "2021-09"]
    expected = choose_threshold(
        in_september["app_complete_flag"].to_numpy(), september.predict_proba(in_september), 0.83
    )
    assert folds[0].validation_cut == expected


def months_of(folds) -> list[str]:  # noqa: ANN001
    return [fold.month for fold in folds]


def test_without_a_month_before_the_first_its_cut_comes_from_its_own_newest_leads(settings, monkeypatch):
    model_input = _generated_model_input(settings)
    newest_fitted = _spy_fits(monkeypatch)
    # 1,000 leads of history: September is the first month that has them, and nothing before it can be graded
    folds = backtest(
        model_input,
        BacktestKnobs(months=4, validation_share=0.2, min_leads=1000, min_conversions=100, max_leads=0),
        min_recall=0.83,
        min_level_count=30,
        params={"n_estimators": 20},
    )
    months = model_input["created_date"].dt.strftime("%Y-%m")
    assert months_of(folds) == ["2021-09", "2021-10", "2021-11", "2021-12"]
    assert len(newest_fitted) == 5  # four folds and September's selector
    before = model_input[months < "2021-09"]
    fit, valid = split_by_time(before, 0.2)
    selector = fit_scorer(fit, FOLD_PARAMS, 30)
    expected = choose_threshold(valid["app_complete_flag"].to_numpy(), selector.predict_proba(valid), 0.83)
    assert folds[0].validation_cut == expected
    assert folds[1].validation_cut == choose_threshold(folds[0].labels, folds[0].scores, 0.83)


def test_fits_share_the_cores_but_each_scorer_keeps_its_own_threads_and_trees(settings):
    model_input = _generated_model_input(settings, rows=2000)
    params = {**FOLD_PARAMS, "n_jobs": 2}
    fitted = fitting.fit_scorers({"a": (model_input, model_input), "b": (model_input.head(800), None)}, params, 30)
    scorer, scores = fitted["a"]
    assert scorer.booster.get_params()["n_jobs"] == 2  # scoring uses the cores it was configured with
    assert fitted["b"][1] is None
    alone = fit_scorer(model_input, params, 30)  # the same fit, on its own with two threads
    assert scorer.booster.booster_.dump_model()["tree_info"] == alone.booster.booster_.dump_model()["tree_info"]
    assert np.array_equal(scores, alone.predict_proba(model_input))


def test_training_runs_are_named_after_their_newest_lead_and_their_size():
    from lead_scoring.core.training import training_run_name

    fingerprint = {"rows": 16421, "created_to": "2021-11-30 23:41:00", "created_from": "2021-07-01 00:02:00"}
    assert training_run_name(fingerprint) == "train to 2021-11-30 · 16,421 leads"


# -- the gate, word for word and at its edges --------------------------------------------------------

GOOD = {"auc": 0.80, "precision": 0.70, "recall": 0.80}


def test_the_gate_gives_every_reason_in_order():
    worst = {"auc": 0.78, "precision": 0.66, "recall": 0.76, "months": 3}
    decision = decide_promotion(GOOD, versus(0.79), TARGETS, 0.005, worst, champion="1")
    assert decision.promote is True
    assert decision.reasons == [
        "auc 0.800 > target 0.75",
        "precision 0.700 > target 0.65",
        "recall 0.800 > target 0.75",
        "worst backtest month auc 0.780 > target 0.75",
        "worst backtest month precision 0.660 > target 0.65",
        "worst backtest month recall 0.760 > target 0.75",
        "backtested on 3 month(s)",
        "auc 0.800 no worse than champion v1's 0.790",
        "on the same 300 leads created 2021-10-01 .. 2021-10-07, both fitted to leads up to 2021-09-30: "
        "this recipe auc 0.800 precision 0.700 recall 0.800; champion v1 auc 0.790 precision 0.690 recall 0.810",
    ]
    first = decide_promotion(GOOD, None, TARGETS, 0.005, None)
    assert first.reasons[-2:] == [
        "no backtest month: too little history before the newest month to test one",
        "no current champion",
    ]


def test_a_figure_equal_to_its_target_misses_it():
    """The targets are 'greater than': 0.75 recall is not > 0.75."""
    decision = decide_promotion({**GOOD, "recall": 0.75}, None, TARGETS, 0.005)
    assert decision.promote is False
    assert "recall 0.750 misses target 0.75" in decision.reasons


def test_a_missing_figure_misses_its_target():
    decision = decide_promotion({"auc": 0.80, "precision": 0.70}, None, TARGETS, 0.005)
    assert decision.promote is False
    assert "recall nan misses target 0.75" in decision.reasons


def test_the_champion_comparison_allows_exactly_the_tolerance():
    # 0.80 + 0.25 = 1.05 exactly in binary: at the tolerance is not worse, past it is
    at_edge = decide_promotion(GOOD, versus(1.05), TARGETS, 0.25, champion="1")
    assert at_edge.promote is True and at_edge.reasons[-2] == "auc 0.800 no worse than champion v1's 1.050"
    past = decide_promotion(GOOD, versus(1.0625), TARGETS, 0.25, champion="1")
    assert past.promote is False
    assert past.reasons[-2] == "auc 0.800 worse than champion v1's 1.062"


def test_the_comparison_reads_the_figures_on_the_same_leads_not_the_validation_slice():
    """The validation slice's AUC (0.90 here) is not what is set against the champion: the recipe's
    figure on the compared leads (0.70) is, and it loses to the champion's 0.80 on those leads."""
    decision = decide_promotion({**GOOD, "auc": 0.90}, versus(0.80, candidate_auc=0.70), TARGETS, 0.005, champion="1")
    assert decision.promote is False
    assert "auc 0.700 worse than champion v1's 0.800" in decision.reasons


def test_a_retrain_no_worse_than_the_champion_serves_even_below_a_target():
    """Both miss the recall target: the newer model still replaces the staler one, and says so loudly."""
    decision = decide_promotion({**GOOD, "recall": 0.70}, versus(0.80), TARGETS, 0.005, champion="1")
    assert decision.promote is True
    assert decision.reasons[-1] == (
        "PROMOTED ALTHOUGH IT MISSES TARGETS (recall 0.700): it is no worse than champion v1 on the same "
        "leads, and has seen newer leads"
    )


def test_without_a_comparison_the_targets_decide_and_the_reason_says_why():
    decision = decide_promotion(
        {**GOOD, "recall": 0.70}, None, TARGETS, 0.005, champion="3", no_comparison="only 12 newer leads"
    )
    assert decision.promote is False
    assert decision.reasons[-1] == "not compared with champion v3 (only 12 newer leads): the targets decide"


def test_a_worst_month_without_a_count_says_zero_months():
    decision = decide_promotion(GOOD, None, TARGETS, 0.005, {**GOOD})
    assert "backtested on 0 month(s)" in decision.reasons


# -- split, sufficiency, backtest months: the edges ------------------------------------------------


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_a_validation_share_outside_zero_and_one_is_refused(share):
    with pytest.raises(ValueError) as raised:
        split_by_time(leads(10), share)
    assert str(raised.value) == f"validation share must be between 0 and 1, not {share}"


def test_split_refuses_a_one_class_training_side():
    frame = leads(100)
    frame.loc[frame.index < 80, "app_complete_flag"] = 1
    with pytest.raises(InsufficientDataError) as raised:
        split_by_time(frame, 0.2)
    assert str(raised.value) == "the training leads hold one class only; need converted and unconverted leads"


def test_sufficiency_accepts_exactly_the_minimum_and_counts_unconverted_leads_too():
    check_sufficiency(leads(10), min_leads=10, min_conversions=5)  # 10 leads, 5 and 5: exactly enough
    mostly_converted = leads(10).assign(app_complete_flag=[1] * 9 + [0])
    with pytest.raises(InsufficientDataError) as raised:
        check_sufficiency(mostly_converted, min_leads=10, min_conversions=2)
    assert str(raised.value) == "9 converted and 1 unconverted lead(s); at least 2 of each are needed"
    with pytest.raises(InsufficientDataError) as raised:
        check_sufficiency(leads(9), min_leads=10, min_conversions=1)
    assert str(raised.value) == "only 9 lead(s) to train on; at least 10 are needed"


def test_a_backtest_month_needs_enough_unconverted_leads_too():
    """Months where nearly everyone converts: the scarce class is the unconverted one."""
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 3), "2021-10": (4, 2)})
    assert [str(m) for m in backtest_month_starts(frame, 3, min_leads=4, min_conversions=2)] == ["2021-08", "2021-10"]
    young = monthly({"2021-07": (4, 3), "2021-08": (4, 2)})  # July: 3 converted, 1 not: too little history
    assert backtest_month_starts(young, 3, min_leads=4, min_conversions=2) == []


# -- metrics, fingerprint, the final policy: literal values ----------------------------------------


def test_metrics_are_these_numbers():
    y = np.array([1, 1, 0, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1, 0.0])
    m = classification_metrics(y, s, threshold=0.5)
    # flagged: 0.9 (hit) and 0.6 (miss): precision 1/2, recall 1/2, f1 1/2; 2 of 5 flagged
    # AUC: of the 6 (positive, negative) pairs only (0.4, 0.6) is misordered: 5/6
    # log loss: -(ln .9 + ln .4 + ln .4 + ln .9 + ln(1 - 1e-7)) / 5, the score 0.0 clipped to 1e-7
    expected_loss = -(2 * np.log(0.9) + 2 * np.log(0.4) + np.log(1 - 1e-7)) / 5
    assert m == {
        "auc": pytest.approx(5 / 6),
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "log_loss": pytest.approx(expected_loss),
        "positive_rate": 0.4,
        "base_rate": 0.4,
        "threshold": 0.5,
        "leads": 5,
    }
    assert m["precision"] == pytest.approx(0.5) and classification_metrics(y, s, 0.6)["positive_rate"] == 0.4
    assert classification_metrics(y, s, 0.61)["recall"] == 0.5 and classification_metrics(y, s, 0.61)["precision"] == 1


def test_metrics_of_one_class_have_no_auc_and_nothing_flagged_is_zero_precision():
    m = classification_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]), threshold=0.5)
    assert np.isnan(m["auc"])
    assert (m["precision"], m["recall"], m["f1"], m["positive_rate"], m["base_rate"]) == (0, 0, 0, 0, 0)
    assert m["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.7)) / 3)


def test_the_fingerprint_names_the_data_and_changes_with_any_value():
    frame = leads(6).assign(city=["a", "b", "c", "d", "e", "f"])
    found = training.fingerprint(frame)
    assert {k: v for k, v in found.items() if k != "content_sha256"} == {
        "rows": 6,
        "conversions": 3,
        "created_from": "2021-07-01 00:00:00",
        "created_to": "2021-07-01 05:00:00",
    }
    assert len(found["content_sha256"]) == 16 and int(found["content_sha256"], 16) >= 0
    reordered = frame.iloc[::-1].reset_index(drop=True)  # the same rows in another order, numbered anew
    assert training.fingerprint(reordered)["content_sha256"] == found["content_sha256"]
    changed = frame.assign(city=["a", "b", "c", "d", "e", "g"])
    assert training.fingerprint(changed)["content_sha256"] != found["content_sha256"]
    relabelled = frame.assign(app_complete_flag=[0, 1, 0, 1, 0, 1])
    assert training.fingerprint(relabelled)["content_sha256"] != found["content_sha256"]


def test_the_final_policy_of_each_kind():
    reference = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    rank = training.final_policy("rank", 0.3, 0.55, reference)
    assert (rank.kind, rank.share) == ("rank", 0.3)
    assert rank.cut == pytest.approx(training.rank_cut(reference, 0.3))
    assert (reference >= rank.cut).sum() == 3  # the top 30% of the reference scores
    validation = training.final_policy("validation", float("nan"), 0.55, reference)
    assert (validation.kind, validation.cut, validation.share) == ("validation", 0.55, pytest.approx(0.5))
    balanced = training.final_policy("balanced", 0.35, 0.55, reference)
    assert (balanced.kind, balanced.cut, balanced.share) == ("balanced", 0.35, pytest.approx(0.7))
    at_a_score = training.final_policy("balanced", 0.4, 0.55, reference)
    assert at_a_score.share == pytest.approx(0.7)  # a score equal to the cut is flagged


def test_a_run_name_without_its_facts_still_reads():
    assert training.training_run_name({}) == "train to ? · 0 leads"
    assert (
        training.training_run_name({"rows": 1234567, "created_to": "2021-12-31"})
        == "train to 2021-12-31 · 1,234,567 leads"
    )


def train_small(model_input, **backtest):
    """train() with the settings' defaults but a small forest, a level count of 30 and the backtest's
    numbers as given (``min_leads``, ``months``, ``max_leads``)."""
    return training.train(model_input, training_knobs(**backtest), params={"n_estimators": 20})


def test_a_training_run_puts_the_evidence_together(settings, monkeypatch):
    """train(): the validation slice is the newest 20% scored by a model that never saw it, the policy is
    chosen on the backtest months and its reference is the newest month's out-of-time scores, and the
    model served is a refit on every lead."""
    model_input = _generated_model_input(settings)
    newest_fitted = _spy_fits(monkeypatch)
    result = train_small(model_input, min_leads=500)
    months = model_input["created_date"].dt.strftime("%Y-%m")
    fit, valid = split_by_time(model_input, 0.2)
    # the fits: every lead (served), all but the newest 20% (the validation evidence), and the folds
    assert newest_fitted.count(model_input["created_date"].max()) == 1
    assert newest_fitted.count(fit["created_date"].max()) == 1
    assert len(newest_fitted) == 2 + 4  # three backtest months and September for October's cut
    assert result.train_rows == len(model_input) == result.fingerprint["rows"]
    assert result.trained_until == model_input["created_date"].max()
    assert result.validation_start == valid["created_date"].min()
    assert result.validation["lead_id"].tolist() == valid["lead_id"].tolist()
    assert result.validation["app_complete_flag"].tolist() == valid["app_complete_flag"].tolist()
    assert (
        result.params["n_estimators"] == 20
        and result.params["learning_rate"] == fitting.LIGHTGBM_PARAMS["learning_rate"]
    )
    # the policy: chosen on the three backtest months; its reference is December as its fold scored it
    choice = result.policy_choice
    assert [m.month for m in choice.chosen.months] == ["2021-10", "2021-11", "2021-12"]
    assert result.policy.kind == choice.chosen.kind
    assert len(result.reference_scores) == int((months == "2021-12").sum())
    if result.policy.kind == "rank":
        assert result.policy.share == choice.chosen.parameter
        assert result.policy.cut == training.rank_cut(result.reference_scores, choice.chosen.parameter)
    assert result.scorer.policy is result.policy
    # the validation rule's cut: the most precise keeping recall 0.75 + 0.08 on the validation leads
    scores = result.validation["score"].to_numpy()
    assert result.validation_cut == choose_threshold(valid["app_complete_flag"].to_numpy(), scores, 0.83)
    # the validation metrics: the served policy applied to the validation leads' scores
    flagged = scores >= result.policy.cut_for(scores)
    positives = valid["app_complete_flag"].to_numpy() == 1
    assert result.metrics["leads"] == len(valid)
    assert result.metrics["precision"] == pytest.approx((flagged & positives).sum() / flagged.sum())
    assert result.metrics["recall"] == pytest.approx((flagged & positives).sum() / positives.sum())
    # the served model scores what the validation model did not see alike, but it is a different fit
    served = result.scorer.predict_proba(valid)
    assert served.shape == scores.shape and not np.allclose(served, scores)


def test_too_young_data_trains_on_the_validation_rule_alone(settings):
    model_input = _generated_model_input(settings)
    result = train_small(model_input, min_leads=10**6)  # no month has that much history before it

    assert result.policy_choice is None
    assert result.policy.kind == "validation" and result.policy.cut == result.validation_cut
    scores = result.validation["score"].to_numpy()
    assert result.reference_scores.tolist() == scores.tolist()
    assert result.policy.share == pytest.approx((scores >= result.validation_cut).mean())


# -- the plan of a backtest, fold results and the parallel fits: hand-built inputs -----------------


def _periods(*months: str) -> list[pd.Period]:
    return [pd.Period(m, freq="M") for m in months]


def test_a_backtest_of_one_month_fits_it_and_the_month_before_it():
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 2), "2021-10": (4, 2)})
    plan = backtest_module.plan_backtest(frame, BacktestKnobs(1, 0.5, 4, 2, 0))
    september, october = _periods("2021-09", "2021-10")
    assert plan.months == [october] and plan.cut_month == september
    assert list(plan.jobs) == [("fold", september), ("fold", october)]
    fit_on, to_score = plan.jobs[("fold", october)]
    assert fit_on.index.tolist() == list(range(12)) and to_score.index.tolist() == [12, 13, 14, 15]


def test_a_backtest_of_no_month_plans_no_fit():
    """count=0 asks for no backtest month: nothing to fit (it used to fail on an IndexError)."""
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 2), "2021-10": (4, 2)})
    plan = backtest_module.plan_backtest(frame, BacktestKnobs(0, 0.5, 4, 2, 0))
    assert (plan.months, plan.cut_month, plan.jobs) == ([], None, {})
    assert backtest(frame, BacktestKnobs(0, 0.5, 4, 2, 0), min_recall=0.8, min_level_count=1) == []


def test_with_max_leads_a_fold_fits_on_the_newest_that_many_leads_before_its_month():
    # one lead a day on the month's last four days: July's are rows 0-3, August's 4-7, September's 8-11
    frame = monthly({"2021-07": (4, 2), "2021-08": (4, 2), "2021-09": (4, 2)})
    plan = backtest_module.plan_backtest(frame, BacktestKnobs(1, 0.5, 4, 2, 3))
    august, september = _periods("2021-08", "2021-09")
    assert (plan.months, plan.cut_month) == ([september], august)
    assert sorted(plan.jobs[("fold", august)][0].index) == [1, 2, 3]  # July 29, 30 and 31 of July's four
    assert sorted(plan.jobs[("fold", september)][0].index) == [5, 6, 7]  # August 29-31 of the eight before
    assert plan.jobs[("fold", september)][1].index.tolist() == [8, 9, 10, 11]


def test_fold_results_take_each_cut_from_the_month_before_and_keep_integer_labels():
    """fold_results on a hand-made plan and hand-made scores: no model needed to check the bookkeeping."""
    august, september, october = _periods("2021-08", "2021-09", "2021-10")

    def month(labels: list) -> pd.DataFrame:
        return pd.DataFrame({"app_complete_flag": labels})

    plan = backtest_module._FoldPlan(
        months=[september, october],
        cut_month=august,
        jobs={
            ("fold", august): (month([]), month([1.0, 1.0, 0.0, 0.0])),  # float labels, as a CSV may give them
            ("fold", september): (month([]), month([True, False, True, False])),
            ("fold", october): (month([]), month([0, 1])),
        },
    )
    fitted = {
        ("fold", august): (None, np.array([0.9, 0.8, 0.7, 0.1])),
        ("fold", september): (None, np.array([0.6, 0.5, 0.4, 0.3])),
        ("fold", october): (None, np.array([0.2, 0.8])),
    }
    folds = backtest_module.fold_results(plan, fitted, min_recall=1.0)
    assert [f.month for f in folds] == ["2021-09", "2021-10"]
    # August: both converted leads kept down to 0.8, where nothing unconverted is flagged
    # September: 0.6 and 0.4 converted, 0.5 not: keeping both costs a cut at 0.4
    assert [f.validation_cut for f in folds] == [0.8, 0.4]
    assert [f.labels.tolist() for f in folds] == [[1, 0, 1, 0], [0, 1]]
    assert all(f.labels.dtype.kind == "i" for f in folds)
    assert folds[1].scores.tolist() == [0.2, 0.8]


def test_a_job_without_leads_to_score_says_which():
    plan = backtest_module._FoldPlan(months=[], cut_month=None, jobs={"final": (pd.DataFrame(), None)})
    with pytest.raises(ValueError) as raised:
        backtest_module._leads_scored(plan, "final")
    assert str(raised.value) == "fit 'final' has no leads to score"
    with pytest.raises(ValueError) as raised:
        backtest_module.scores_of({"final": (None, None)}, "final")
    assert str(raised.value) == "fit 'final' scored no leads"


def test_split_keeps_leads_created_at_the_same_time_in_their_order():
    # 70 leads on three days, newest (day 3) every 3rd or 4th: the newest 20% is a tie of 20 on day 3
    days = [3, 1, 2, 1, 3, 2, 1] * 10
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(70)],
            "created_date": pd.Timestamp("2021-07-01") + pd.to_timedelta(days, unit="D"),
            "app_complete_flag": [i % 2 for i in range(70)],
        }
    )
    fit, valid = split_by_time(frame, 0.2)
    on = lambda day: [f"L{i}" for i in range(70) if days[i] == day]  # noqa: E731
    assert valid["lead_id"].tolist() == on(3)
    assert fit["lead_id"].tolist() == on(1) + on(2)


def test_a_recall_above_one_asks_for_every_converted_lead():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    # every converted lead is kept down to 0.8; 0.7 and 0.1 would only flag unconverted ones too
    assert choose_threshold(y, s, min_recall=1.03) == 0.8


def test_a_recall_no_cut_can_meet_falls_back_to_the_lowest_cut():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert choose_threshold(y, s, min_recall=float("nan")) == 0.1  # every lead flagged


def test_metrics_clip_certain_scores_to_one_in_ten_million():
    # a converted lead scored 0 and an unconverted one scored 1: each costs -ln(1e-7), not sklearn's own clip
    m = classification_metrics(np.array([1, 0]), np.array([0.0, 1.0]), threshold=0.5)
    assert m["log_loss"] == pytest.approx(-np.log(1e-7))


def test_metrics_with_nothing_to_divide_by_are_zero_without_warnings():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = classification_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]), threshold=0.5)
    assert (m["precision"], m["recall"], m["f1"]) == (0, 0, 0)
    assert [str(w.message) for w in caught] == []


def _tiny_leads(rows: int, cities: list[str] | None = None) -> pd.DataFrame:
    from tests.factories import model_input_frame

    columns = {"city_mapped": cities} if cities else {}
    frame = model_input_frame(rows, total_leads_droppped=[float(i % 5) for i in range(rows)], **columns)
    return frame.assign(app_complete_flag=[int(i % 5 >= 3) for i in range(rows)])


TINY_PARAMS = {**fitting.LIGHTGBM_PARAMS, "n_estimators": 3, "min_child_samples": 2}


def test_a_fitted_scorer_keeps_the_levels_seen_often_enough_and_integer_classes():
    frame = _tiny_leads(8, cities=["a", "a", "a", "b", "b", "c", "c", "c"])
    scorer = fit_scorer(frame, TINY_PARAMS, 3)
    assert scorer.features.levels["city_mapped"] == ["a", "c"]  # b is seen twice: pooled into "other"
    assert scorer.booster.classes_.tolist() == [0, 1] and scorer.booster.classes_.dtype.kind == "i"


def test_parallel_fits_run_the_largest_first_and_each_result_goes_with_its_job(monkeypatch):
    order = _spy_sizes(monkeypatch)
    jobs = {
        "small": (_tiny_leads(10), _tiny_leads(3)),
        "large": (_tiny_leads(30), _tiny_leads(5)),
        "medium": (_tiny_leads(20), None),
    }
    fitted = fitting.fit_scorers(jobs, TINY_PARAMS, 1, workers=1)  # one worker: one fit after the other
    assert order == [30, 20, 10]
    assert list(fitted) == ["large", "medium", "small"]
    assert fitted["small"][1].shape == (3,) and fitted["large"][1].shape == (5,) and fitted["medium"][1] is None


def _spy_sizes(monkeypatch) -> list[int]:  # noqa: ANN001
    sizes = []  # the number of leads each fitted model saw, in the order the fits start

    def spy(frame, *args, **kwargs):  # noqa: ANN001, ANN202
        sizes.append(len(frame))
        return fit_scorer(frame, *args, **kwargs)

    monkeypatch.setattr(fitting, "fit_scorer", spy)
    return sizes


def test_one_fit_alone_runs_and_its_booster_keeps_exactly_the_configured_params():
    from lightgbm import LGBMClassifier

    leads = _tiny_leads(20)
    # one job has every core to itself: a whole number of threads (LightGBM refuses num_threads=2.0)
    fitted = fitting.fit_scorers({"only": (leads, leads)}, {**TINY_PARAMS, "n_jobs": 3}, 1)
    scorer, scores = fitted["only"]
    assert scores.shape == (20,)
    # scoring keeps the configured threads, and nothing else is stored with the booster
    assert scorer.booster.get_params() == {**LGBMClassifier().get_params(), **TINY_PARAMS, "n_jobs": 3}


def test_fits_without_a_thread_count_score_with_the_default_one():
    leads = _tiny_leads(20)
    params = {k: v for k, v in TINY_PARAMS.items() if k != "n_jobs"}
    fitted = fitting.fit_scorers({"a": (leads, None), "b": (leads.head(10), None)}, params, 1)
    assert [fitted[key][0].booster.get_params()["n_jobs"] for key in ("a", "b")] == [2, 2]


def test_a_backtest_with_max_leads_fits_each_fold_on_at_most_that_many(settings, monkeypatch):
    model_input = _generated_model_input(settings)
    sizes = _spy_sizes(monkeypatch)
    folds = backtest(
        model_input,
        BacktestKnobs(months=3, validation_share=0.2, min_leads=500, min_conversions=100, max_leads=600),
        min_recall=0.83,
        min_level_count=30,
        params={"n_estimators": 20},
    )
    assert months_of(folds) == ["2021-10", "2021-11", "2021-12"]
    assert sizes == [600] * 4  # September (for October's cut) and the three months: each had more before it


def test_train_passes_its_fold_limits_and_level_count_to_every_fit(settings, monkeypatch):
    """Four backtest months from September, which has no month before it to take its cut from: that
    comes from the newest 20% of the leads before it; each fold fits on at most the newest 1,200."""
    model_input = _generated_model_input(settings)
    sizes = _spy_sizes(monkeypatch)
    result = train_small(model_input, months=4, min_leads=1000, max_leads=1200)
    months = model_input["created_date"].dt.strftime("%Y-%m")
    assert [m.month for m in result.policy_choice.chosen.months] == ["2021-09", "2021-10", "2021-11", "2021-12"]
    before_september = model_input[months < "2021-09"]
    assert 1000 <= len(before_september) <= 1200  # September's fold: every lead before it
    assert (months < "2021-10").sum() > 1200  # October's, November's and December's: the newest 1,200
    selector, _ = split_by_time(model_input, 0.2)
    september_selector, _ = split_by_time(before_september, 0.2)
    expected = [len(model_input), len(selector), 1200, 1200, 1200, len(before_september), len(september_selector)]
    assert sorted(sizes, reverse=True) == expected
    assert result.scorer.features.min_count == 30
