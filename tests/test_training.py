"""Unit tests of the pure training functions on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring import training
from lead_scoring.errors import InsufficientDataError
from lead_scoring.training import (
    Targets,
    backtest,
    backtest_month_starts,
    check_sufficiency,
    choose_threshold,
    classification_metrics,
    decide_promotion,
    fit_scorer,
    split_by_time,
)

TARGETS = Targets(auc=0.75, precision=0.65, recall=0.75)


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
    with pytest.raises(InsufficientDataError, match="no app_complete_flag"):
        check_sufficiency(leads(100).drop(columns=["app_complete_flag"]), 1, 1)


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
    worse = decide_promotion(good, {"auc": 0.82}, TARGETS, 0.005)
    assert not worse.promote and any("worse than champion" in r for r in worse.reasons)
    assert decide_promotion(good, {"auc": 0.804}, TARGETS, 0.005).promote  # within tolerance


def test_signature_takes_what_scoring_meets():
    """Null-able text columns, optional lead id, doubles for counts, datetime for the creation date."""
    from lead_scoring.pyfunc import model_signature

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
    from lead_scoring.data_pipeline import transform_leads
    from lead_scoring.generate import generate_leads
    from lead_scoring.mappings import load_mappings
    from lead_scoring.validation import validate_raw_leads
    from tests.factories import as_text

    raw = as_text(generate_leads(rows, seed=5, start="2021-07-01", end="2021-12-31"))
    validated, _ = validate_raw_leads(raw, "test")
    return transform_leads(validated, load_mappings(settings))["model_input"]


FOLD_PARAMS = {**training.LIGHTGBM_PARAMS, "n_estimators": 20}


def _spy_fits(monkeypatch) -> list[pd.Timestamp]:  # noqa: ANN001
    newest_fitted = []  # the newest lead each fitted model saw

    def spy(frame, *args, **kwargs):  # noqa: ANN001, ANN202
        newest_fitted.append(frame["created_date"].max())
        return fit_scorer(frame, *args, **kwargs)

    monkeypatch.setattr(training, "fit_scorer", spy)
    return newest_fitted


def test_each_backtest_month_is_scored_by_a_model_that_never_saw_it(settings, monkeypatch):
    model_input = _generated_model_input(settings)
    newest_fitted = _spy_fits(monkeypatch)
    folds = backtest(
        model_input,
        count=3,
        validation_share=0.2,
        min_recall=0.83,
        min_level_count=30,
        min_leads=500,
        min_conversions=100,
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
        count=4,
        validation_share=0.2,
        min_recall=0.83,
        min_level_count=30,
        min_leads=1000,
        min_conversions=100,
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
    fitted = training.fit_scorers({"a": (model_input, model_input), "b": (model_input.head(800), None)}, params, 30)
    scorer, scores = fitted["a"]
    assert scorer.booster.get_params()["n_jobs"] == 2  # scoring uses the cores it was configured with
    assert fitted["b"][1] is None
    alone = fit_scorer(model_input, params, 30)  # the same fit, on its own with two threads
    assert scorer.booster.booster_.dump_model()["tree_info"] == alone.booster.booster_.dump_model()["tree_info"]
    assert np.array_equal(scores, alone.predict_proba(model_input))


def test_training_runs_are_named_after_their_newest_lead_and_their_size():
    from lead_scoring.training import training_run_name

    fingerprint = {"rows": 16421, "created_to": "2021-11-30 23:41:00", "created_from": "2021-07-01 00:02:00"}
    assert training_run_name(fingerprint) == "train to 2021-11-30 · 16,421 leads"
