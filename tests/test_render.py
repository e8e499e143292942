"""The text the CLI prints: each summary rendered as the lines a person reads."""

from __future__ import annotations

from lead_scoring import render


def summary_of(report, **fields):  # noqa: ANN001, ANN201
    from lead_scoring.core.scoring import ScoringSummary

    return ScoringSummary("file:1", "new_leads.csv", "lead_scoring", "7", monitoring=report, **fields)


def test_the_summary_lines_a_person_reads():
    from lead_scoring.core.monitoring import DriftReport

    report = DriftReport("ok", 0.25, "largest feature PSI 0.012 (city_tier)", expected_positive_share=0.2)
    summary = summary_of(
        report,
        rows_scored=8,
        duplicates_dropped=2,
        positives=2,
        buckets={"hot": 1, "warm": 3, "cold": 4},
        thin={
            "missing_city": {"count": 3, "share": 0.3, "training_share": 0.04},
            "unseen_first_platform_c_raw": {"count": 2, "share": 0.2, "training_share": None},
            "odd_kind": {"count": 1, "share": 0.1},  # a kind with no words of its own keeps its key
        },
        seconds=1.5,
    )
    assert render.scoring_lines(summary) == [
        "source           new_leads.csv",
        "model            lead_scoring v7 (champion)",
        "leads scored     8 (2 exact duplicate(s) dropped)",
        "predicted apply  2 (25.0%; the decision policy expects 20.0%)",
        "buckets          hot 1, warm 3, cold 4",
        "thin evidence    no city 3 (30% vs 4% in training), rare/new platform 2 (20%), odd_kind 1 (10%)",
        "monitoring       ok: largest feature PSI 0.012 (city_tier)",
        "time             1.50 s",
    ]


def test_an_empty_run_and_a_model_without_a_policy_say_less():
    from lead_scoring.core.monitoring import DriftReport

    for expected in (float("nan"), None):  # NaN: a model from before decision policies
        report = DriftReport("no_leads", 0.0, "no leads", expected_positive_share=expected)
        assert render.scoring_lines(summary_of(report, rows_scored=0)) == [
            "source           new_leads.csv",
            "model            lead_scoring v7 (champion)",
            "leads scored     0",
            "predicted apply  0 (0.0%)",
            "buckets          ",
            "monitoring       no_leads: no leads",
            "time             0.00 s",
        ]


def test_a_prepare_run_in_lines():
    from lead_scoring.pipelines.data import PrepareSummary

    summary = PrepareSummary(
        source="leads.csv",
        rows_read=1000,
        duplicates_dropped=3,
        unknown_columns=("notes",),
        rows_written=997,
        positives=250,
        ids_derived=True,
        seconds=2.0,
        tables=("leads_clean", "model_input"),
    )
    assert render.prepare_lines(summary) == [
        "source           leads.csv",
        "rows read        1000",
        "rows dropped     3 exact duplicate(s)",
        "rows written     997 to leads_clean, model_input",
        "conversions      250 (25.1%)",  # 250 / 997
        "ignored columns  notes",
        "lead_id          derived from each row (the export has no lead_id column)",
        "time             2.00 s (500 rows/s)",
    ]


def test_a_backtest_names_each_missed_target():
    from lead_scoring.lab.backtest import MonthFigures, MonthlyReport

    figures = {"precision": 0.7, "recall": 0.5, "positive_rate": 0.25}
    month = MonthFigures("2021-10", 400, 0.3, 0.74, "top share 0.25", figures, figures)
    report = MonthlyReport((month,), {"auc": 0.75, "precision": 0.65, "recall": 0.75})
    lines = render.backtest_lines(report)
    assert lines[3] == (
        "2021-10      400  0.300  0.740   0.700 / 0.500 /  25%      top share 0.25        0.700 / 0.500 /  25%"
    )
    assert lines[-1] == ("targets: AUC > 0.75, precision > 0.65, recall > 0.75; missed: 2021-10 recall, 2021-10 auc")
