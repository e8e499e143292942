"""Outcomes in, without a trained model (issue #23.2, .3, .6): dates screened and counted, outcomes kept aside
matched once their lead is scored, two runs at once, a publish during the append, a missing label column."""

from __future__ import annotations

import logging
import os

import pandas as pd
import pytest

from lead_scoring import render
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.errors import InputDataError
from lead_scoring.pipelines import feedback, outcomes


def scored(settings, ids: list[str], created: list[str]) -> None:
    """`scored_leads` as scoring leaves it (a feature column, created_date, first_scored_at)."""
    frame = pd.DataFrame(
        {
            "lead_id": ids,
            "created_date": pd.to_datetime(created),
            "city_tier": [1.0] * len(ids),
            "first_scored_at": pd.Timestamp("2021-12-10"),
        }
    )
    predictions = pd.DataFrame(
        {"lead_id": ids, "score": 0.5, "predicted_label": 1, "model_name": settings.model_name, "model_version": "1"}
    )
    with StagingDatabase(settings.db_url) as db:
        db.merge_rows("test", "scored_leads", frame, keys=["lead_id"], keep=["first_scored_at"])
        db.merge_rows("test", "predictions", predictions, keys=["lead_id", "model_version"])


def outcome_file(home, name: str, rows: list[tuple[str, int, str]], arrived: str = "2021-12-20 12:00"):
    path = home / name
    pd.DataFrame(rows, columns=["lead_id", "app_complete_flag", "outcome_at"]).to_csv(path, index=False)
    stamp = pd.Timestamp(arrived, tz="UTC").timestamp()
    os.utime(path, (stamp, stamp))  # the file arrived then
    return path


def table(settings, name: str) -> pd.DataFrame:
    with StagingDatabase(settings.db_url) as db:
        return db.read_table(name).sort_values("lead_id").reset_index(drop=True)


def test_labels_dated_after_arrival_or_before_their_lead_are_ignored_and_counted(settings, home):
    scored(settings, ["L1", "L2", "L3"], ["2021-12-01 10:00", "2021-12-02 10:00", "2021-12-03 10:00"])
    path = outcome_file(
        home,
        "out.csv",
        [("L1", 1, "2099-12-31"), ("L2", 0, "2021-11-30"), ("L3", 1, "2021-12-15")],
    )
    summary = outcomes.ingest_outcomes(settings, path)
    assert (summary.after_arrival, summary.before_lead, summary.matched, summary.new) == (1, 1, 1, 1)
    assert table(settings, "outcomes")["lead_id"].tolist() == ["L3"]
    # the 2099 label did not become permanent: a true one that arrives later is written
    later = outcome_file(home, "later.csv", [("L1", 0, "2021-12-21")], arrived="2021-12-22")
    assert outcomes.ingest_outcomes(settings, later).new == 1
    assert table(settings, "outcomes")["app_complete_flag"].tolist() == [0, 1]


def test_the_summary_says_how_many_labels_each_rule_ignored(settings, home):
    scored(settings, ["L1", "L2"], ["2021-12-01 10:00", "2021-12-02 10:00"])
    path = outcome_file(home, "out.csv", [("L1", 1, "2099-12-31"), ("L2", 0, "2021-11-30")])
    lines = render.feedback_lines(feedback.run_feedback(settings, path))
    assert "labels ignored   1 dated after the file arrived, 1 dated before their lead was created" in lines


def test_an_outcome_that_arrived_before_its_lead_was_scored_is_matched_on_a_later_run(settings, home):
    scored(settings, ["L1"], ["2021-12-01 10:00"])
    first = outcomes.ingest_outcomes(
        settings, outcome_file(home, "a.csv", [("L1", 1, "2021-12-15"), ("L7", 1, "2021-12-16")])
    )
    assert (first.matched, first.unmatched) == (1, 1)
    scored(settings, ["L7"], ["2021-12-05 09:00"])  # L7 is scored afterwards
    second = outcomes.ingest_outcomes(settings, outcome_file(home, "b.csv", [("L1", 1, "2021-12-15")]))
    assert (second.rematched, second.new, second.unchanged) == (1, 1, 1)
    assert "L7" in second.lead_ids
    assert table(settings, "outcomes")["lead_id"].tolist() == ["L1", "L7"]
    assert table(settings, "unmatched_outcomes").empty


def test_two_runs_at_once_both_land(settings, home, monkeypatch):
    """A constant scratch key let the second run drop the first one's scratch table: "no such table"."""
    scored(settings, ["L1", "L2"], ["2021-12-01 10:00", "2021-12-02 10:00"])
    first = outcome_file(home, "out.csv", [("L1", 1, "2021-12-15")])
    original = StagingDatabase.merge_rows
    nested: list[str] = []

    # On SQLite a merge stages, upserts and drops its scratch table in one write transaction (#29,
    # item 9): no other run can come in between. The second run does all its work just before the
    # first one's merge instead.
    def interleaved(self, run_key, table, frame, keys, keep=()):
        if table == "outcomes" and not nested:  # the second run does all its work right here
            nested.append(run_key)
            outcome_file(home, "out.csv", [("L2", 0, "2021-12-16")])
            outcomes.ingest_outcomes(settings, first)
        return original(self, run_key, table, frame, keys, keep)

    monkeypatch.setattr(StagingDatabase, "merge_rows", interleaved)
    outcomes.ingest_outcomes(settings, first)
    assert table(settings, "outcomes")["lead_id"].tolist() == ["L1", "L2"]


def test_a_failure_only_in_mlflow_logging_is_a_warning(settings, home, monkeypatch, caplog):
    scored(settings, ["L1"], ["2021-12-01 10:00"])
    outcomes.ingest_outcomes(settings, outcome_file(home, "out.csv", [("L1", 1, "2021-12-15")]))

    def deleted(*_args):
        raise RuntimeError("The run abc must be in the 'active' state. Current state is deleted.\nmore")

    monkeypatch.setattr(feedback, "_log_to_mlflow", deleted)
    with caplog.at_level(logging.WARNING, logger="lead_scoring"):
        summary = feedback.recompute_performance(settings)
    assert summary.verdict.status == "no_judged_week"
    with StagingDatabase(settings.db_url) as db:
        assert db.read_table("model_performance")["leads_labelled"].tolist() == [1]
    assert (
        "realized figures not logged to MLflow (the tables are written): The run abc must be in the 'active' "
        "state. Current state is deleted." in caplog.messages
    )


def model_input(ids: list[str], labels: list[int] | None) -> pd.DataFrame:
    frame = pd.DataFrame({"lead_id": ids, "created_date": pd.Timestamp("2021-11-01"), "city_tier": 2.0})
    return frame if labels is None else frame.assign(app_complete_flag=labels)


def test_a_prepare_that_publishes_during_the_append_does_not_lose_it(settings, home, monkeypatch):
    scored(settings, ["L1", "L2"], ["2021-12-01 10:00", "2021-12-02 10:00"])
    outcomes.ingest_outcomes(
        settings, outcome_file(home, "out.csv", [("L1", 1, "2021-12-15"), ("L2", 0, "2021-12-15")])
    )
    with StagingDatabase(settings.db_url) as db:
        db.replace_tables({"model_input": model_input(["T1"], [1])}, "prep1")
    original = StagingDatabase.merge_rows
    published: list[bool] = []

    def publish_first(self, run_key, table_name, frame, keys, keep=()):
        if table_name == "model_input" and not published:  # a prepare publishes between the read and the upsert
            published.append(True)
            original(self, run_key, table_name, frame, keys, keep)
            self.replace_tables({"model_input": model_input(["T1", "T2"], [1, 0])}, "prep2")
            return len(frame)
        return original(self, run_key, table_name, frame, keys, keep)

    monkeypatch.setattr(StagingDatabase, "merge_rows", publish_first)
    appended = feedback.append_labelled(settings)
    assert table(settings, "model_input")["lead_id"].tolist() == ["L1", "L2", "T1", "T2"]
    assert (appended.added, appended.model_input_rows) == (2, 4)


def test_feedback_on_an_unlabelled_model_input_is_one_line(settings, home):
    scored(settings, ["L1"], ["2021-12-01 10:00"])
    with StagingDatabase(settings.db_url) as db:
        db.replace_tables({"model_input": model_input(["T1"], None)}, "prep")
    outcomes.ingest_outcomes(settings, outcome_file(home, "out.csv", [("L1", 1, "2021-12-15")]))
    with pytest.raises(InputDataError) as caught:
        feedback.append_labelled(settings)
    assert str(caught.value) == (
        f"model_input in {settings.redacted_db_url()} has no app_complete_flag column (it was prepared from an "
        "unlabelled export): prepare a labelled export before feeding outcomes back; nothing was appended"
    )


def test_the_dag_ingest_task_reports_the_ignored_labels(settings, home):
    scored(settings, ["L1", "L2", "L3"], ["2021-12-01 10:00", "2021-12-02 10:00", "2021-12-03 10:00"])
    settings.outcomes_dir.mkdir(parents=True)
    rows = [("L1", 1, "2099-12-31"), ("L2", 0, "2021-11-30"), ("L3", 1, "2021-12-15")]
    outcome_file(settings.outcomes_dir, "outcomes_2021-12-20.csv", rows)
    counts = feedback.ingest_step(settings, "2021-12-20T00:00:00+00:00")
    assert counts == feedback.IngestCounts(matched=1, new=1, changed=0, unmatched=0, after_arrival=1, before_lead=1)
