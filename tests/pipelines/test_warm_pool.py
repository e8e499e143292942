"""A new champion ranks among a warm pool from its first day: its own scores of the production leads
the daily runs stored before the day (after its training leads), computed point in time and never
written. The stand-in model of test_rank_pool scores each lead ``total_leads_droppped / 100`` and
flags the top half of the pool once 4 leads are pooled, so every flag below is counted by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.adapters.mlflow.registry import ScoringModel
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.pipelines import inference, scoring
from tests.pipelines import test_rank_pool
from tests.pipelines.test_rank_pool import _Model, counts, run_day

stand_in = test_rank_pool.stand_in  # the fixture: the stand-in champion v3, no registry


def _promote(monkeypatch: pytest.MonkeyPatch, version: str, tags: dict[str, str]) -> ScoringModel:
    """The registry's champion is now ``version`` (a promotion, a rollback or a shadow's promotion)."""
    new = ScoringModel("lead_scoring", version, "run", _Model(), None, tags)
    monkeypatch.setattr(inference, "load_model", lambda *_a, **_k: new)
    monkeypatch.setattr(scoring, "load_model", lambda *_a, **_k: new)
    return new


def test_a_new_champion_ranks_among_the_stored_days_and_a_rerun_flags_the_same_leads(stand_in, monkeypatch):
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    run_day(stand_in, "2021-12-02", counts("2021-12-02"))
    _promote(monkeypatch, "5", {"trained_until": "2021-11-30 23:59:59"})
    # v5 never served: its pool is its own scores of the 12 stored leads, so 18 pooled, the top 9
    # are all of day three (a cold pool would rank the 6 among themselves and flag 3)
    first = run_day(stand_in, "2021-12-03", counts("2021-12-03"))
    assert first == {80: 1, 82: 1, 84: 1, 86: 1, 88: 1, 90: 1}
    assert run_day(stand_in, "2021-12-03", counts("2021-12-03")) == first
    with StagingDatabase(stand_in.db_url) as db:
        rows = db.query("SELECT model_version, COUNT(*) AS n FROM predictions GROUP BY 1 ORDER BY 1")
        scored_leads = db.count_rows("scored_leads")
    # the warm pool's scores were never written: v5 has the 6 leads it served, no more
    assert rows.values.tolist() == [["3", 12], ["5", 6]]
    assert scored_leads == 18
    outbox = pd.read_csv(inference.outbox_path(stand_in, "2021-12-03T00:00:00+00:00"))
    assert outbox["model_version"].astype(str).tolist() == ["5"] * 6


def test_the_leads_a_champion_trained_on_are_not_in_its_pool(stand_in, monkeypatch):
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    run_day(stand_in, "2021-12-02", counts("2021-12-02"))
    _promote(monkeypatch, "5", {"trained_until": "2021-12-02 23:00:00"})
    # both stored days are its training leads: the 6 of day three are ranked among themselves
    assert run_day(stand_in, "2021-12-03", counts("2021-12-03")) == {80: 0, 82: 0, 84: 0, 86: 1, 88: 1, 90: 1}


def test_the_warm_pool_is_the_last_warm_pool_days(stand_in, monkeypatch):
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    run_day(stand_in, "2021-12-02", counts("2021-12-02"))
    _promote(monkeypatch, "5", {})
    one_day = stand_in.with_overrides(warm_pool_days=1)
    # only day two (6 leads, 60-70) is within a day of day three: 12 pooled, the top 6 are day three
    assert run_day(one_day, "2021-12-03", counts("2021-12-03")) == {80: 1, 82: 1, 84: 1, 86: 1, 88: 1, 90: 1}
