"""Airflow's everyday actions keep the record true (#29.1, .3, .4): a rerun or backfill of a day scores
with the version that served it, only the newest production day publishes the online cut, an ad-hoc
file never touches a production row, and a broken shadow never costs the champion's day.

The stand-in models of ``test_rank_pool`` score each lead ``total_leads_droppped / 100`` and flag the
top half of the pool (4 leads or more), so every flag below is counted by hand."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from lead_scoring.adapters.mlflow.registry import ScoringModel
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.pipelines import inference, scoring
from lead_scoring.pipelines.inference import outbox_path
from tests.factories import write_csv
from tests.pipelines.test_rank_pool import CHAMPION, _Model, counts, leads, run_day


class _Doubled(_Model):
    """Version 4: scores every lead twice as high as version 3 (capped at 1)."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        scores = (frame["total_leads_droppped"].astype(float).to_numpy() / 50.0).clip(0, 1)
        return pd.DataFrame({"score": scores, "predicted_label": 0, "top_reasons": "r"})


V4 = ScoringModel("lead_scoring", "4", "run4", _Doubled(), None, {})
VERSIONS = {"3": CHAMPION, "4": V4}


@pytest.fixture
def registry(settings, monkeypatch):
    """A registry whose champion the test moves (``registry["champion"]``); cuts published are listed."""
    state: dict[str, object] = {"champion": "3", "published": []}

    def load(_settings, version=None):  # noqa: ANN001, ANN202
        return VERSIONS[str(version) if version is not None else str(state["champion"])]

    def publish(_settings, model, predictions, _pool):  # noqa: ANN001, ANN202
        state["published"].append((model.version, str(pd.to_datetime(predictions["created_date"]).min().date())))
        return 0.5

    monkeypatch.setattr(inference, "load_model", load)
    monkeypatch.setattr(scoring, "load_model", load)
    monkeypatch.setattr(inference, "shadow_model", lambda *_a: None)
    monkeypatch.setattr(inference, "publish_online_cut", publish)
    monkeypatch.setattr(scoring, "publish_online_cut", publish)
    monkeypatch.setattr("lead_scoring.adapters.scoring_runs.log_scoring_run", lambda *_a: None)
    return settings, state


def production_rows(settings) -> list[list[object]]:
    with StagingDatabase(settings.db_url) as db:
        rows = db.query(
            "SELECT lead_id, model_version, role, production, predicted_label FROM predictions "
            "ORDER BY created_date, model_version"
        )
    return rows.values.tolist()


def test_a_rerun_after_a_new_champion_scores_the_day_with_the_version_that_served_it(registry):
    settings, state = registry
    run_day(settings, "2021-12-01", counts("2021-12-01"))
    before = pd.read_csv(outbox_path(settings, "2021-12-01T00:00:00+00:00"))
    state["champion"] = "4"  # promoted since
    run_day(settings, "2021-12-01", counts("2021-12-01"))  # the rerun
    with StagingDatabase(settings.db_url) as db:
        versions = db.query("SELECT DISTINCT model_version FROM predictions")["model_version"].tolist()
        served = db.query("SELECT interval_start, model_name, model_version FROM served_days").values.tolist()
    assert versions == ["3"]  # no row of version 4 for a day version 3 decided
    assert served == [["2021-12-01 00:00:00", "lead_scoring", "3"]]
    after = pd.read_csv(outbox_path(settings, "2021-12-01T00:00:00+00:00"))
    assert after["model_version"].astype(str).unique().tolist() == ["3"]
    assert after[["score", "predicted_label"]].values.tolist() == before[["score", "predicted_label"]].values.tolist()
    assert after["predicted_label"].tolist() == [1, 1, 1, 0, 0, 0]  # the top half of 0.10..0.20
    # a day first scored after the promotion is the new champion's
    run_day(settings, "2021-12-02", counts("2021-12-02"))
    with StagingDatabase(settings.db_url) as db:
        served = db.query("SELECT model_version FROM served_days ORDER BY interval_start")["model_version"].tolist()
    assert served == ["3", "4"]


def test_a_backfill_of_an_old_day_never_publishes_the_online_cut(registry):
    settings, state = registry
    run_day(settings, "2021-12-02", counts("2021-12-02"))
    run_day(settings, "2021-12-03", counts("2021-12-03"))
    run_day(settings, "2021-12-01", counts("2021-12-01"))  # backfilled last
    run_day(settings, "2021-12-02", counts("2021-12-02"))  # a rerun of a day before the newest
    assert state["published"] == [("3", "2021-12-02"), ("3", "2021-12-03")]
    run_day(settings, "2021-12-03", counts("2021-12-03"))  # the newest day publishes again
    assert state["published"][-1] == ("3", "2021-12-03") and len(state["published"]) == 3


def test_a_production_file_of_an_old_day_never_publishes_the_online_cut(registry, tmp_path):
    settings, state = registry
    run_day(settings, "2021-12-03", counts("2021-12-03"))
    scoring.score_file(
        settings, write_csv(leads("2021-12-01", counts("2021-12-01")), tmp_path / "d1.csv"), production=True
    )
    assert state["published"] == [("3", "2021-12-03")]


def test_an_ad_hoc_file_overlapping_a_production_day_changes_no_production_row(registry, tmp_path):
    """`score --input` of a file holding a production day's leads turned them into ad-hoc rows: out of the
    rank pool, with the file's flags (#29.3)."""
    settings, state = registry
    run_day(settings, "2021-12-01", counts("2021-12-01"))
    run_day(settings, "2021-12-02", counts("2021-12-02"))
    before = production_rows(settings)
    assert [r[1:4] for r in before] == [["3", "champion", 1]] * 12
    # the same leads of day two (same ids) in a file scored by hand
    summary = scoring.score_file(settings, write_csv(leads("2021-12-02", counts("2021-12-02")), tmp_path / "d2.csv"))
    assert summary.rows_scored == 6 and summary.positives == 6  # ranked above day one, as on the day
    assert production_rows(settings) == before
    with StagingDatabase(settings.db_url) as db:
        pool = db.query("SELECT COUNT(*) AS n FROM predictions WHERE production = 1")["n"].tolist()
    assert pool == [12]
    assert state["published"] == [("3", "2021-12-01"), ("3", "2021-12-02")]  # no cut from the file
    # day three is still ranked among the 12 production leads: 80..90 all in the top half
    assert run_day(settings, "2021-12-03", counts("2021-12-03")) == {80: 1, 82: 1, 84: 1, 86: 1, 88: 1, 90: 1}


def test_an_ad_hoc_file_scored_by_a_newer_champion_keeps_the_production_leads_recorded_input(registry, tmp_path):
    """The model input `scored_leads` keeps for a production lead (the drift window's and the feedback
    loop's) was replaced by an ad-hoc file's, once another version scored it by hand (#29.3)."""
    settings, state = registry
    day = leads("2021-12-01", counts("2021-12-01"))
    day.insert(0, "lead_id", [f"D1-{i}" for i in range(6)])
    write_csv(day, settings.landing_dir / "leads_2021-12-01.csv")
    start = "2021-12-01T00:00:00+00:00"
    inference.validate_step(settings, start, "2021-12-02T00:00:00+00:00")
    inference.transform_step(settings, start)
    inference.score_step(settings, start)
    inference.write_step(settings, start)
    inference.discard_step(settings, start)
    with StagingDatabase(settings.db_url) as db:
        recorded = db.query("SELECT * FROM scored_leads ORDER BY lead_id").drop(columns=["first_scored_at"])
    state["champion"] = "4"
    edited = day.assign(first_platform_c="Level0", total_leads_droppped=99.0)  # the same ids, other inputs
    scoring.score_file(settings, write_csv(edited, tmp_path / "edited.csv"))
    with StagingDatabase(settings.db_url) as db:
        kept = db.query("SELECT * FROM scored_leads ORDER BY lead_id").drop(columns=["first_scored_at"])
        rows = db.query("SELECT model_version, production, COUNT(*) AS n FROM predictions GROUP BY 1, 2")
    assert recorded["total_leads_droppped"].tolist() == [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    pd.testing.assert_frame_equal(kept, recorded)
    assert rows.values.tolist() == [["3", 1, 6], ["4", 0, 6]]  # v4's own ad-hoc rows, apart


class _Broken(_Model):
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("the challenger's booster expects 12 features, got 11")


def test_a_shadow_that_fails_while_scoring_is_skipped_and_the_champion_day_is_written(registry, monkeypatch, caplog):
    settings, _state = registry
    broken = ScoringModel("lead_scoring", "5", "run5", _Broken(), None, {})
    monkeypatch.setattr(inference, "shadow_model", lambda *_a: broken)
    with caplog.at_level(logging.WARNING, logger="lead_scoring"):
        flags = run_day(settings, "2021-12-01", counts("2021-12-01"))
    assert flags == {10: 0, 12: 0, 14: 0, 16: 1, 18: 1, 20: 1}
    assert [r[1:4] for r in production_rows(settings)] == [["3", "champion", 1]] * 6
    assert len(pd.read_csv(outbox_path(settings, "2021-12-01T00:00:00+00:00"))) == 6
    assert caplog.messages[-1] == (
        "shadow v5 skipped (the champion's scores stand): ValueError: "
        "the challenger's booster expects 12 features, got 11"
    )


def test_a_shadow_that_cannot_be_loaded_is_skipped_and_the_champion_day_is_written(registry, monkeypatch, caplog):
    settings, _state = registry

    def gone(*_args: object) -> None:
        raise OSError("No such file or directory: 'mlruns/1/models/m-5/artifacts/MLmodel'")

    monkeypatch.setattr(inference, "shadow_model", gone)
    with caplog.at_level(logging.WARNING, logger="lead_scoring"):
        run_day(settings, "2021-12-01", counts("2021-12-01"))
    assert [r[1:4] for r in production_rows(settings)] == [["3", "champion", 1]] * 6
    assert len(pd.read_csv(outbox_path(settings, "2021-12-01T00:00:00+00:00"))) == 6
    assert caplog.messages[-1] == (
        "shadow skipped (the champion's scores stand): "
        "OSError: No such file or directory: 'mlruns/1/models/m-5/artifacts/MLmodel'"
    )


def test_a_rerun_of_a_day_whose_version_is_gone_names_the_way_out(registry, monkeypatch):
    from lead_scoring.errors import ModelNotFoundError

    settings, _state = registry
    run_day(settings, "2021-12-01", counts("2021-12-01"))

    def gone(_settings, version=None):  # noqa: ANN001, ANN202
        raise ModelNotFoundError("'lead_scoring' has no version 3")

    monkeypatch.setattr(inference, "load_model", gone)
    with pytest.raises(ModelNotFoundError) as caught:
        run_day(settings, "2021-12-01", counts("2021-12-01"))
    assert str(caught.value) == (
        "2021-12-01 was decided by v3 ('lead_scoring' has no version 3): to score it with today's champion, "
        "delete its row from served_days first"
    )
