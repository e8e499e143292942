"""The closed loop's pure rules: outcome validation, "the newer label wins", weekly realized figures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lead_scoring.core.feedback import (
    PERFORMANCE_COLUMNS,
    Figures,
    TargetsVerdict,
    WeekPerformance,
    labelled_training_rows,
    latest_complete_verdict,
    merge_outcomes,
    out_of_sample,
    outcomes_from_labelled,
    performance_table,
    realized_figures,
    retrain_reason,
    retrain_tags,
    scored_lead_rows,
    validate_outcomes,
    week_start,
    weekly_performance,
)
from lead_scoring.core.targets import Targets
from lead_scoring.errors import InputDataError

TARGETS = Targets(auc=0.75, precision=0.65, recall=0.75)


def scored_frame() -> pd.DataFrame:
    """Seven leads scored by version 1: six in the ISO week of Mon 2021-11-29 (five with an outcome), one after."""
    return pd.DataFrame(
        {
            "lead_id": list("abcdefg"),
            "model_version": ["1"] * 7,
            "created_date": pd.to_datetime(
                [
                    "2021-11-29 08:00",  # Monday: first day of the week
                    "2021-12-01 10:00",
                    "2021-12-02 10:00",
                    "2021-12-03 10:00",
                    "2021-12-05 23:59",  # Sunday: still the same week
                    "2021-12-04 10:00",
                    "2021-12-06 00:00",  # Monday: the next week
                ]
            ),
            "score": [0.9, 0.8, 0.7, 0.4, 0.2, 0.3, 0.6],
            "predicted_label": [1, 1, 1, 0, 0, 0, 1],
            "app_complete_flag": [1, 0, 1, 1, 0, np.nan, 1],
        }
    )


def test_week_start_is_the_monday_of_the_iso_week():
    created = pd.Series(pd.to_datetime(["2021-12-05 23:59", "2021-12-06 00:00", "2022-01-01 12:00"]))
    assert week_start(created).tolist() == [
        pd.Timestamp("2021-11-29"),
        pd.Timestamp("2021-12-06"),
        pd.Timestamp("2021-12-27"),  # ISO week 52 of 2021
    ]


def test_weekly_figures_equal_a_hand_computation():
    weeks = weekly_performance(scored_frame(), min_labelled=5, targets=TARGETS)
    first, second = weeks
    assert (first.model_version, first.week_start) == ("1", pd.Timestamp("2021-11-29"))
    assert first.leads_scored == 6 and first.figures.leads_labelled == 5
    # labelled: a(.9, 1, y1) b(.8, 1, y0) c(.7, 1, y1) d(.4, 0, y1) e(.2, 0, y0)
    # AUC: positive-negative pairs ranked right: (a,b) (a,e) (c,e) (d,e) of 6 -> 4/6
    assert first.figures.auc == pytest.approx(4 / 6)
    assert first.figures.precision == pytest.approx(2 / 3)  # a, c of the flagged a, b, c
    assert first.figures.recall == pytest.approx(2 / 3)  # a, c of the completed a, c, d
    assert first.figures.f1 == pytest.approx(2 / 3)
    assert first.figures.flagged_share == pytest.approx(3 / 5)
    assert first.status == "below_target"
    assert first.misses == ("auc 0.667 <= 0.75", "recall 0.667 <= 0.75")  # precision 0.667 > 0.65 is met
    assert (second.week_start, second.leads_scored, second.status) == (pd.Timestamp("2021-12-06"), 1, "too_few_labels")


def test_a_week_below_the_minimum_of_labelled_leads_has_no_figures():
    weeks = weekly_performance(scored_frame(), min_labelled=6, targets=TARGETS)
    table = performance_table(weeks)
    assert table["status"].tolist() == ["too_few_labels", "too_few_labels"]
    assert table["leads_labelled"].tolist() == [5, 1]
    assert table[["auc", "precision", "recall", "f1", "flagged_share"]].isna().all().all()


def test_figures_meeting_every_target_are_ok_and_versions_are_kept_apart():
    frame = scored_frame()
    other = frame.iloc[:3].assign(model_version="2", predicted_label=[1, 0, 1])  # a, b, c: perfect flags
    weeks = weekly_performance(pd.concat([frame, other]), min_labelled=3, targets=Targets(0.6, 0.6, 0.6))
    by_key = {(w.model_version, w.week_start): w for w in weeks}
    assert by_key["1", pd.Timestamp("2021-11-29")].status == "ok"
    v2 = by_key["2", pd.Timestamp("2021-11-29")]
    # flags right on all three, but the scores rank b (.8, y0) above c (.7, y1): AUC 1 of 2 pairs
    assert (v2.leads_scored, v2.figures.precision, v2.figures.recall, v2.figures.auc) == (3, 1.0, 1.0, 0.5)


def test_undefined_figures_are_missing_not_zero():
    frame = scored_frame().iloc[:3].assign(app_complete_flag=[0, 0, 0], predicted_label=[0, 0, 0])
    (week,) = weekly_performance(frame, min_labelled=3, targets=TARGETS)
    assert week.figures.auc is None and week.figures.precision is None and week.figures.recall is None
    assert week.status == "ok"  # nothing defined misses a target


def test_the_verdict_is_the_latest_complete_week_with_enough_labels():
    weeks = weekly_performance(scored_frame(), min_labelled=1, targets=TARGETS)
    # as of Monday Dec 6 only the week of Nov 29 is over
    verdict = latest_complete_verdict(weeks, pd.Timestamp("2021-12-06"))
    assert (verdict.status, verdict.week_start) == ("below_target", pd.Timestamp("2021-11-29"))
    assert verdict.misses == ("v1: auc 0.667 <= 0.75", "v1: recall 0.667 <= 0.75")
    # a week later, the week of Dec 6 (g: flagged and completed) is the latest: precision and recall 1, AUC undefined
    assert latest_complete_verdict(weeks, pd.Timestamp("2021-12-13")).status == "ok"
    assert latest_complete_verdict(weeks, pd.Timestamp("2021-12-05 23:59")).status == "no_judged_week"
    too_few = weekly_performance(scored_frame(), min_labelled=200, targets=TARGETS)
    assert latest_complete_verdict(too_few, pd.Timestamp("2022-01-01")).status == "no_judged_week"


def outcomes(rows: list[tuple[str, int, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "app_complete_flag": [r[1] for r in rows],
            "outcome_at": pd.to_datetime([r[2] for r in rows]),
        }
    )


def test_the_newer_label_wins():
    stored = outcomes(
        [
            ("L1", 0, "2021-12-10"),
            ("L2", 1, None),
            ("L3", 0, "2021-12-20"),
            ("L6", 0, "2021-12-10"),
        ]
    )
    incoming = outcomes(
        [
            ("L1", 1, "2021-12-15"),  # later outcome_at: wins
            ("L2", 1, None),  # the same label again: nothing to write
            ("L3", 1, "2021-12-18"),  # older than the stored one: ignored
            ("L4", 0, None),  # new
            ("L6", 1, None),  # no outcome_at: it arrived later, so it wins
        ]
    )
    merge = merge_outcomes(stored, incoming)
    assert (merge.new, merge.changed, merge.unchanged, merge.stale) == (1, 2, 1, 1)
    assert merge.rows["lead_id"].tolist() == ["L1", "L4", "L6"]
    assert merge.rows["app_complete_flag"].tolist() == [1, 0, 1]


def test_the_same_outcomes_again_write_nothing():
    first = outcomes([("L1", 1, "2021-12-15"), ("L2", 0, None)])
    again = merge_outcomes(first, first)
    assert again.rows.empty and (again.new, again.changed, again.unchanged) == (0, 0, 2)
    assert len(merge_outcomes(first.head(0), first).rows) == 2


def text(rows: list[list[str | None]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


COLUMNS = ["lead_id", "app_complete_flag", "outcome_at"]


def test_valid_outcomes_are_typed_and_exact_duplicates_dropped():
    raw = text(
        [["L1", "1", "2021-12-15"], ["L2", "0.0", None], ["L1", "1", "2021-12-15"], [" L3 ", "0", ""]],
        COLUMNS,
    ).assign(note="ignored")
    checked = validate_outcomes(raw, "out.csv")
    assert checked.rows_read == 4 and checked.duplicates_dropped == 1 and checked.unknown_columns == ("note",)
    assert checked.frame["lead_id"].tolist() == ["L1", "L2", "L3"]
    assert checked.frame["app_complete_flag"].tolist() == [1, 0, 0]
    assert checked.frame["outcome_at"].isna().tolist() == [False, True, True]


def test_outcome_at_is_optional():
    checked = validate_outcomes(text([["L1", "1"]], COLUMNS[:2]), "out.csv")
    assert checked.frame["outcome_at"].isna().all()


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([["L1"]], ["lead_id"], "out.csv: missing required column(s): app_complete_flag"),
        (
            [["L1", "1", None], ["L2", "2", None], ["L3", "yes", None]],
            COLUMNS,
            "out.csv: column 'app_complete_flag': 2 row(s) not 0 or 1, e.g. '2' on line 3",
        ),
        ([["L1", "1", None], [None, "0", None]], COLUMNS, "out.csv: column 'lead_id': 1 row(s) missing, e.g. empty"),
        (
            [["L1", "1", None], ["L1", "0", None]],
            COLUMNS,
            "out.csv: column 'lead_id': 2 row(s) share a lead_id with a different outcome, e.g. 'L1' on line 2",
        ),
        (
            [["L1", "1", "next week"]],
            COLUMNS,
            "out.csv: column 'outcome_at': 1 row(s) not a date-time (expected YYYY-MM-DD[ HH:MM:SS]), "
            "e.g. 'next week' on line 2",
        ),
        ([["L1", None, None]], COLUMNS, "out.csv: column 'app_complete_flag': 1 row(s) missing, e.g. empty on line 2"),
    ],
)
def test_bad_outcomes_are_refused_with_one_line(rows, columns, message):
    with pytest.raises(InputDataError) as caught:
        validate_outcomes(text(rows, columns), "out.csv")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_labelled_scored_leads_become_training_rows_once():
    scored = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "created_date": pd.to_datetime(["2021-12-01"] * 4),
            "city_tier": [1.0, 2.0, 3.0, 3.0],
            "first_scored_at": pd.Timestamp("2021-12-02"),
        }
    )
    got = outcomes([("a", 1, None), ("b", 0, None), ("c", 1, None)])  # d: no outcome yet
    current = pd.DataFrame({"lead_id": ["b", "c", "x"], "app_complete_flag": [0, 0, 1]})  # b as is, c relabelled
    fresh = labelled_training_rows(scored, got, current)
    assert (fresh.added, fresh.relabelled) == (1, 1)
    assert fresh.rows["lead_id"].tolist() == ["a", "c"]
    assert fresh.rows["app_complete_flag"].tolist() == [1, 1]
    assert list(fresh.rows.columns) == ["lead_id", "created_date", "city_tier", "app_complete_flag"]


def test_retrain_reason_and_the_training_run_tag():
    weeks = weekly_performance(scored_frame(), min_labelled=1, targets=TARGETS)
    below = latest_complete_verdict(weeks, pd.Timestamp("2021-12-06"))
    assert retrain_reason(0, 0, latest_complete_verdict(weeks, pd.Timestamp("2021-12-13"))) == ""
    assert retrain_reason(3, 0, below) == (
        "3 newly labelled lead(s), 0 relabelled; week of 2021-11-29 below target: "
        "v1: auc 0.667 <= 0.75; v1: recall 0.667 <= 0.75"
    )
    reason = SimpleNamespace(extra={"retrain_reason": "3 newly labelled lead(s)"})
    events = {"asset": [reason, SimpleNamespace(extra={})]}
    assert retrain_tags(events) == {"retrain_reason": "3 newly labelled lead(s)"}
    assert retrain_tags({}) == {} and retrain_tags(None) == {}


def test_a_figure_equal_to_its_target_misses_it():
    """As at the promotion gate, a target is met only by a figure above it."""
    frame = scored_frame().iloc[:3].assign(predicted_label=[1, 0, 1])  # precision and recall exactly 1.0
    (week,) = weekly_performance(frame, min_labelled=3, targets=Targets(auc=0.4, precision=1.0, recall=0.9))
    assert week.status == "below_target" and week.misses == ("precision 1.000 <= 1.0",)


def test_the_rules_are_pure():
    """No database, MLflow or Airflow behind the rules: they can be tested and reused on frames alone."""
    import subprocess
    import sys

    probe = (
        "import sys, lead_scoring.core.feedback\n"
        "print(sorted(m for m in ('mlflow', 'sqlalchemy', 'airflow') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_live_sales_tables_take_one_versions_labelled_leads():
    from lead_scoring.pipelines.feedback import live_sales_tables

    scored = pd.DataFrame(
        {
            "model_version": ["1", "1", "1", "1", "1", "2"],
            "score": [0.9, 0.8, 0.5, 0.2, 0.95, 0.99],
            "app_complete_flag": [1.0, 0.0, 1.0, 0.0, None, 1.0],  # the fifth has no outcome yet
        }
    )
    tables = live_sales_tables(scored, "1", hot=0.7, warm=0.4)
    gain = {row["top_percent"]: row for row in tables["sales/gain_live.json"]}
    # 4 labelled leads, hottest first 0.9 (1), 0.8 (0), 0.5 (1), 0.2 (0): the top half reaches 1 of 2
    assert gain[50]["leads_called"] == 2 and gain[50]["applications_reached"] == 1
    assert gain[100]["applications_reached"] == 2
    buckets = {row["bucket"]: row for row in tables["sales/buckets_live.json"]}
    assert buckets["hot"]["leads"] == 2 and buckets["warm"]["leads"] == 1 and buckets["cold"]["leads"] == 1
    assert live_sales_tables(scored, "3", 0.7, 0.4) == {}


# -- pinned decisions, each with a hand-computed expectation (issue #13) -------------------------------


def test_a_missing_lead_id_and_label_are_both_named_and_no_rows_is_refused():
    with pytest.raises(InputDataError) as caught:
        validate_outcomes(text([["x"]], ["note"]), "out.csv")
    assert str(caught.value) == "out.csv: missing required column(s): lead_id, app_complete_flag"
    with pytest.raises(InputDataError) as caught:
        validate_outcomes(text([], COLUMNS), "out.csv")
    assert str(caught.value) == "out.csv: no outcome rows"


def test_without_outcome_at_every_row_gets_a_missing_moment_and_labels_are_integers():
    checked = validate_outcomes(text([["L1", "1"], ["L2", "0.0"], ["L1", "1"], ["L3", " 0 "]], COLUMNS[:2]), "out.csv")
    assert checked.frame["lead_id"].tolist() == ["L1", "L2", "L3"]
    assert checked.frame["app_complete_flag"].tolist() == [1, 0, 0]
    assert str(checked.frame["app_complete_flag"].dtype) == "int64"
    assert checked.frame["outcome_at"].isna().tolist() == [True, True, True]
    assert str(checked.frame["outcome_at"].dtype) == "datetime64[ns]"


def test_a_different_label_at_the_same_outcome_at_wins_as_the_later_arrival():
    """Only a strictly older outcome_at is stale; the same moment falls back to "arrived later wins"."""
    stored = outcomes([("L1", 0, "2021-12-10 09:00"), ("L2", 0, "2021-12-10 09:00")])
    incoming = outcomes([("L1", 1, "2021-12-10 09:00"), ("L2", 1, "2021-12-10 08:59")])
    merge = merge_outcomes(stored, incoming)
    assert (merge.new, merge.changed, merge.unchanged, merge.stale) == (0, 1, 0, 1)
    assert merge.rows["lead_id"].tolist() == ["L1"]


def test_merged_rows_are_the_outcome_columns_only_numbered_from_zero():
    stored = outcomes([("L1", 0, None)])
    incoming = outcomes([("L1", 0, None), ("L2", 1, "2021-12-15"), ("L3", 0, None)]).assign(note="x")
    incoming.index = [7, 8, 9]
    merge = merge_outcomes(stored, incoming)
    assert list(merge.rows.columns) == ["lead_id", "app_complete_flag", "outcome_at"]
    assert merge.rows.index.tolist() == [0, 1]
    assert merge.rows["lead_id"].tolist() == ["L2", "L3"]
    # nothing stored yet: every incoming row is new, and the same shape comes back
    first = merge_outcomes(stored.head(0), incoming)
    assert (first.new, first.changed, first.unchanged, first.stale) == (3, 0, 0, 0)
    assert list(first.rows.columns) == ["lead_id", "app_complete_flag", "outcome_at"]
    assert first.rows.index.tolist() == [0, 1, 2]
    assert first.rows["lead_id"].tolist() == ["L1", "L2", "L3"]


def test_no_labelled_lead_gives_empty_figures():
    empty = np.array([])
    assert realized_figures(empty, empty, empty) == Figures(0, None, None, None, None, None)


def test_f1_is_missing_when_precision_or_recall_is_and_zero_when_no_flag_is_right():
    # two completed applications, nothing flagged: recall 0, precision undefined, so f1 undefined
    none_flagged = realized_figures(np.array([1, 1, 0]), np.array([0.3, 0.2, 0.1]), np.array([0, 0, 0]))
    assert (none_flagged.precision, none_flagged.recall, none_flagged.f1) == (None, 0.0, None)
    assert none_flagged.flagged_share == 0.0
    # no application at all, one flagged: precision 0, recall undefined, so f1 undefined
    none_completed = realized_figures(np.array([0, 0]), np.array([0.9, 0.1]), np.array([1, 0]))
    assert (none_completed.precision, none_completed.recall, none_completed.f1) == (0.0, None, None)
    assert none_completed.auc is None and none_completed.flagged_share == 0.5
    # one flag, on the wrong lead: precision 0/1, recall 0/1, f1 0
    wrong = realized_figures(np.array([1, 0]), np.array([0.4, 0.6]), np.array([0, 1]))
    assert (wrong.auc, wrong.precision, wrong.recall, wrong.f1, wrong.flagged_share) == (0.0, 0.0, 0.0, 0.0, 0.5)


def test_weeks_are_ordered_by_version_then_week_whatever_the_input_order():
    frame = scored_frame().iloc[::-1]  # the later week first
    other = scored_frame().iloc[:2].assign(model_version="0")  # listed last, sorts first
    weeks = weekly_performance(pd.concat([frame, other]), min_labelled=1, targets=TARGETS)
    assert [(w.model_version, w.week_start) for w in weeks] == [
        ("0", pd.Timestamp("2021-11-29")),
        ("1", pd.Timestamp("2021-11-29")),
        ("1", pd.Timestamp("2021-12-06")),
    ]


def test_a_version_read_as_a_number_and_as_text_is_one_version():
    frame = scored_frame().iloc[:6].assign(model_version=[1, 1, 1, "1", "1", "1"])
    (week,) = weekly_performance(frame, min_labelled=5, targets=TARGETS)
    assert (week.model_version, week.leads_scored, week.figures.leads_labelled) == ("1", 6, 5)


def test_a_week_with_too_few_labels_has_no_misses():
    weeks = weekly_performance(scored_frame(), min_labelled=6, targets=TARGETS)
    assert [(w.status, w.misses) for w in weeks] == [("too_few_labels", ()), ("too_few_labels", ())]


def test_a_week_with_exactly_the_minimum_of_labels_is_judged():
    five = weekly_performance(scored_frame().iloc[:6], min_labelled=5, targets=TARGETS)
    assert [w.status for w in five] == ["below_target"]


def week(status: str, figures: Figures) -> WeekPerformance:
    return WeekPerformance("3", pd.Timestamp("2021-12-06"), 9, figures, status)  # type: ignore[arg-type]


def test_a_judged_week_row_carries_its_figures_and_nan_where_undefined():
    row = week("ok", Figures(4, None, 0.5, 0.25, 1 / 3, 0.125)).row()
    assert list(row) == list(PERFORMANCE_COLUMNS)
    assert {k: v for k, v in row.items() if k != "auc"} == {
        "model_version": "3",
        "week_start": pd.Timestamp("2021-12-06"),
        "leads_scored": 9,
        "leads_labelled": 4,
        "precision": 0.5,
        "recall": 0.25,
        "f1": 1 / 3,
        "flagged_share": 0.125,
        "status": "ok",
    }
    assert np.isnan(row["auc"])


def test_a_week_with_too_few_labels_shows_its_count_but_no_figure():
    row = week("too_few_labels", Figures(2, 0.5, 0.5, 0.5, 0.5, 0.5)).row()
    assert (row["leads_scored"], row["leads_labelled"], row["status"]) == (9, 2, "too_few_labels")
    assert all(np.isnan(row[name]) for name in ("auc", "precision", "recall", "f1", "flagged_share"))


def test_the_performance_table_has_the_table_columns_and_types_even_when_empty():
    empty = performance_table(())
    assert list(empty.columns) == list(PERFORMANCE_COLUMNS) and empty.empty
    table = performance_table([week("ok", Figures(4, 0.75, 0.5, 0.25, 1 / 3, 0.125))])
    for frame in (empty, table):
        assert list(frame.columns) == list(PERFORMANCE_COLUMNS)
        assert {
            col: str(frame[col].dtype) for col in PERFORMANCE_COLUMNS if col not in ("model_version", "status")
        } == {
            "week_start": "datetime64[ns]",
            "leads_scored": "int64",
            "leads_labelled": "int64",
            "auc": "float64",
            "precision": "float64",
            "recall": "float64",
            "f1": "float64",
            "flagged_share": "float64",
        }
    assert table.iloc[0].tolist() == ["3", pd.Timestamp("2021-12-06"), 9, 4, 0.75, 0.5, 0.25, 1 / 3, 0.125, "ok"]


def test_the_verdict_in_words():
    assert TargetsVerdict("no_judged_week").describe() == "no complete week has enough labelled leads to judge yet"
    assert TargetsVerdict("ok", pd.Timestamp("2021-11-29")).describe() == "week of 2021-11-29 met the targets"
    below = TargetsVerdict(
        "below_target", pd.Timestamp("2021-11-29"), ("v1: auc 0.667 <= 0.75", "v2: recall 0.5 <= 0.75")
    )
    assert below.describe() == "week of 2021-11-29 below target: v1: auc 0.667 <= 0.75; v2: recall 0.5 <= 0.75"


def test_retrain_tags_join_distinct_reasons_skip_events_without_extra_and_cap_the_length():
    events = {
        "outcomes": [SimpleNamespace(extra={"retrain_reason": "a"}), SimpleNamespace(), SimpleNamespace(extra=None)],
        "model_input": [SimpleNamespace(extra={"retrain_reason": "b"}), SimpleNamespace(extra={"retrain_reason": "a"})],
    }
    assert retrain_tags(events) == {"retrain_reason": "a | b"}
    long = {"outcomes": [SimpleNamespace(extra={"retrain_reason": "x" * 6000})]}
    assert retrain_tags(long) == {"retrain_reason": "x" * 5000}


def test_scored_lead_rows_drop_the_label_and_stamp_the_scoring_moment():
    batch = pd.DataFrame({"lead_id": ["a", "b"], "city_tier": [1.0, 3.0], "app_complete_flag": [1, 0]}, index=[4, 9])
    rows = scored_lead_rows(batch, pd.Timestamp("2021-12-06 07:30"))
    assert list(rows.columns) == ["lead_id", "city_tier", "first_scored_at"]
    assert rows.index.tolist() == [0, 1]
    assert rows["first_scored_at"].tolist() == [pd.Timestamp("2021-12-06 07:30")] * 2
    assert "app_complete_flag" in batch.columns  # the caller's frame is left as it was
    # a batch to score has no label to drop
    unlabelled = scored_lead_rows(batch.drop(columns=["app_complete_flag"]), pd.Timestamp("2021-12-06"))
    assert list(unlabelled.columns) == ["lead_id", "city_tier", "first_scored_at"]


def test_labelled_rows_take_an_integer_label_and_need_no_scoring_moment():
    scored = pd.DataFrame({"lead_id": ["a", "b"], "city_tier": [1.0, 2.0]})  # no first_scored_at column
    got = pd.DataFrame({"lead_id": ["a", "b"], "app_complete_flag": [1.0, 0.0]})  # a label read back as a float
    fresh = labelled_training_rows(scored, got, pd.DataFrame({"lead_id": [], "app_complete_flag": []}))
    assert (fresh.added, fresh.relabelled) == (2, 0)
    assert fresh.rows["app_complete_flag"].tolist() == [1, 0]
    assert str(fresh.rows["app_complete_flag"].dtype) == "int64"


def test_a_lead_held_twice_in_model_input_is_judged_by_its_first_row():
    scored = pd.DataFrame({"lead_id": ["b"], "city_tier": [2.0]})
    current = pd.DataFrame({"lead_id": ["b", "b"], "app_complete_flag": [0, 1]})
    same = labelled_training_rows(scored, outcomes([("b", 0, None)]), current)
    assert (same.added, same.relabelled, len(same.rows)) == (0, 0, 0)
    other = labelled_training_rows(scored, outcomes([("b", 1, None)]), current)
    assert (other.added, other.relabelled, other.rows["app_complete_flag"].tolist()) == (0, 1, [1])


def test_the_demo_outcomes_come_back_at_midnight_two_weeks_after_the_lead():
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "created_date": pd.to_datetime(["2021-12-01 15:30", "2021-12-05 23:59"]),
            "app_complete_flag": [1.0, 0.0],
        }
    )
    made = outcomes_from_labelled(leads)
    assert list(made.columns) == ["lead_id", "app_complete_flag", "outcome_at"]
    assert made["lead_id"].tolist() == ["a", "b"]
    assert made["app_complete_flag"].tolist() == [1, 0] and str(made["app_complete_flag"].dtype) == "int64"
    assert made["outcome_at"].tolist() == [pd.Timestamp("2021-12-15"), pd.Timestamp("2021-12-19")]
    assert outcomes_from_labelled(leads, delay_days=1)["outcome_at"].tolist() == [
        pd.Timestamp("2021-12-02"),
        pd.Timestamp("2021-12-06"),
    ]


def test_no_version_is_graded_on_leads_up_to_its_training_cut_off():
    """v2, trained on leads up to Thu 2021-12-02 10:00, was graded "ok" on a, b, c, which it had learned (#29.2)."""
    frame = scored_frame()
    v2 = frame.assign(model_version="2")
    cutoffs = {"2": pd.Timestamp("2021-12-02 10:00")}  # v1: no cut-off known, every lead kept
    kept = out_of_sample(pd.concat([frame, v2], ignore_index=True), cutoffs)
    assert kept[kept["model_version"] == "2"]["lead_id"].tolist() == ["d", "e", "f", "g"]
    assert kept[kept["model_version"] == "1"]["lead_id"].tolist() == list("abcdefg")
    weeks = {(w.model_version, w.week_start): w for w in weekly_performance(kept, 1, TARGETS)}
    week = weeks["2", pd.Timestamp("2021-11-29")]
    # d (.4, y1), e (.2, y0), f (.3, no outcome): two labelled leads, none flagged
    assert (week.leads_scored, week.figures.leads_labelled, week.figures.auc, week.figures.precision) == (
        3,
        2,
        1.0,
        None,
    )
    assert out_of_sample(frame.assign(model_version="2"), {"2": pd.Timestamp("2021-12-31")}).empty
