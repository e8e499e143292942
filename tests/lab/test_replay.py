"""`lead-scoring replay`: a few generated weeks replayed day by day (fast), and the shared quarter (slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from lead_scoring import render
from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.factories import write_csv


@pytest.mark.slow  # end to end through MLflow: trains twice and logs a scoring run per day
def test_a_replay_scores_every_day_feeds_outcomes_and_retrains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Generated leads of Jul-Sep 2021 to train on, then 2021-10-01 .. 10-14 replayed: each lead of the
    two weeks graded once; on 10-08 the outcomes of the leads up to 10-04 (3 days' lag) come back and
    the model is retrained on them."""
    from lead_scoring.adapters.mlflow.tracking import tracking
    from lead_scoring.lab.replay import ReplayPlan, replay

    monkeypatch.setenv("LEAD_SCORING_HOME", str(tmp_path / "own"))
    leads = generate_leads(5000, seed=5, start="2021-07-01", end="2021-10-14")
    path = write_csv(leads, tmp_path / "leads.csv")
    home = tmp_path / "replay"
    report = replay(Settings.from_env(), path, ReplayPlan("2021-10-01", "2021-10-14", outcome_lag=3), home=home)

    in_window = pd.to_datetime(leads["created_date"]) >= pd.Timestamp("2021-10-01")
    assert report.days == 14
    assert [m.month for m in report.months] == ["2021-10"]
    assert report.months[0].leads == int(in_window.sum())  # each replayed lead graded once
    assert report.first_version == "1"
    assert [(r.day, r.version) for r in report.retrains] == [("2021-10-08", "2")]
    assert render.replay_lines(report)[0] == "replayed 2021-10-01 .. 2021-10-14: 14 day(s), first champion v1"
    assert not (tmp_path / "own" / "lead_scoring.db").exists()  # the replay's stores live in its own home
    assert (home / "lead_scoring.db").is_file() and (home / "mlflow.db").is_file()
    own = tracking(Settings.from_env())  # the figures go to the caller's own tracking store, which outlives it
    assert own.store.run(report.run_id).metrics["days"] == 14
    assert report.experiment == "lead_scoring-replay"


@pytest.mark.real_data
@pytest.mark.slow
def test_the_shared_quarter_meets_the_targets_and_retrains_serve(real_data_dir: Path, tmp_path: Path):
    """Issue #22's yardstick: Oct-Dec 2021 on the shared leads, trained on Jul-Sep."""
    from lead_scoring.lab.replay import ReplayPlan, replay

    os.environ.pop("LEAD_SCORING_HOME", None)
    report = replay(
        Settings.from_env(), real_data_dir / "leads_2021H2.csv", ReplayPlan("2021-10-01", "2021-12-31"), home=tmp_path
    )
    for month in report.months:
        assert month.precision is not None and month.precision > 0.65, month
        assert month.recall is not None and month.recall > 0.75, month
    october = [r for r in report.retrains if r.day.startswith("2021-10")]
    assert any(r.promoted for r in october)  # a retrain serves in October too
    assert sum(r.promoted for r in report.retrains) >= len(report.retrains) - 2
