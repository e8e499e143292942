"""The daily monitor task fails on the day a drift alarm opens, records and passes on the later days
of the same alarm, and closes it when the drift ends: in `alarms`, `scoring_runs` and the task's result."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.errors import DriftDetectedError
from lead_scoring.pipelines import inference, scoring
from tests.factories import write_csv
from tests.pipelines.test_rank_pool import CHAMPION, leads

# the reference: every lead on platform Level0; half the scores below 0.5, half above
PROFILE = {
    "features": {"first_platform_c": {"kind": "categorical", "shares": {"Level0": 1.0}}},
    "scores": {"edges": [0.0, 0.5, 1.0], "shares": [0.5, 0.5]},
    "threshold": 0.5,
    "positive_rate": 0.5,
}
MONITORED = replace(CHAMPION, profile=PROFILE)


@pytest.fixture
def one_day_window(settings, monkeypatch):
    monkeypatch.setattr(inference, "load_model", lambda *_a, **_k: MONITORED)
    monkeypatch.setattr(scoring, "load_model", lambda *_a, **_k: MONITORED)
    monkeypatch.setattr(inference, "shadow_model", lambda *_a: None)
    monkeypatch.setattr(inference, "publish_online_cut", lambda *_a: None)  # no registry here
    monkeypatch.setattr("lead_scoring.adapters.scoring_runs.log_scoring_run", lambda *_a: None)
    return settings.with_overrides(drift_window_days=1)


def monitor_day(settings, day: str, platform: str):
    frame = leads(day, [20, 30, 40, 60, 70, 80] * 4)
    frame["created_date"] = [f"{day} {h:02d}:00:00" for h in range(len(frame))]
    frame["first_platform_c"] = platform
    write_csv(frame, settings.landing_dir / f"leads_{day}.csv")
    start, end = f"{day}T00:00:00+00:00", f"{day}T23:59:59+00:00"
    inference.validate_step(settings, start, end)
    inference.transform_step(settings, start)
    version = inference.score_step(settings, start)
    inference.write_step(settings, start)
    return inference.monitor_step(settings, start, end, version)


def test_an_alarm_opens_once_fails_that_day_only_and_closes(one_day_window):
    settings = one_day_window.with_overrides(alarm_quiet_days=1)
    assert monitor_day(settings, "2021-12-01", "Level0").alarm_state == "none"
    with pytest.raises(DriftDetectedError, match="OPENED today: first_platform_c moved"):
        monitor_day(settings, "2021-12-02", "Level3")
    later = monitor_day(settings, "2021-12-03", "Level3")  # the same episode: recorded, the task passes
    assert later.status == "drifted" and later.alarm_state == "open"
    assert later.alarm.startswith("open since 2021-12-02: first_platform_c moved")
    with pytest.raises(DriftDetectedError):  # a rerun of the opening day decides the same
        monitor_day(settings, "2021-12-02", "Level3")
    closed = monitor_day(settings, "2021-12-04", "Level0")
    assert closed.status == "ok" and closed.alarm_state == "closed"
    with StagingDatabase(settings.db_url) as db:
        alarms = db.query("SELECT alarm_id, opened_on, moved, closed_on, closed_reason FROM alarms")
        runs = db.query("SELECT interval_start, status, alarm_state, alarm_id FROM scoring_runs ORDER BY 1")
    assert alarms.values.tolist() == [
        ["lead_scoring:2021-12-02", "2021-12-02", "first_platform_c", "2021-12-04", "no drift on 2021-12-04"]
    ]
    assert runs[["status", "alarm_state"]].values.tolist() == [
        ["ok", "none"],
        ["drifted", "opened"],
        ["drifted", "open"],
        ["ok", "closed"],
    ]
    assert runs["alarm_id"].tolist()[1:] == ["lead_scoring:2021-12-02"] * 3


def test_drift_in_the_streams_first_days_is_recorded_without_an_alarm(one_day_window):
    settings = one_day_window.with_overrides(drift_window_days=2)
    first = monitor_day(settings, "2021-12-01", "Level3")  # the window's first day is not in the stream
    assert (first.status, first.alarm_state) == ("drifted", "none")
    with pytest.raises(DriftDetectedError):  # a whole window of two days: the alarm opens
        monitor_day(settings, "2021-12-02", "Level3")


def test_drifted_quiet_drifted_opens_one_alarm_and_it_closes_after_the_quiet_days(one_day_window):
    """Flicker (#29.5): a quiet day between two drifted ones closed the alarm and the next day opened
    (and alerted) a second one."""
    settings = one_day_window.with_overrides(alarm_quiet_days=2)
    assert monitor_day(settings, "2021-12-01", "Level0").alarm_state == "none"
    with pytest.raises(DriftDetectedError):
        monitor_day(settings, "2021-12-02", "Level3")
    quiet = monitor_day(settings, "2021-12-03", "Level0")
    assert (quiet.status, quiet.alarm_state) == ("ok", "open")
    again = monitor_day(settings, "2021-12-04", "Level3")  # no DriftDetectedError: the same episode
    assert (again.status, again.alarm_state) == ("drifted", "open")
    assert monitor_day(settings, "2021-12-05", "Level0").alarm_state == "open"  # one quiet day of two
    closed = monitor_day(settings, "2021-12-06", "Level0")
    assert closed.alarm_state == "closed"
    with StagingDatabase(settings.db_url) as db:
        alarms = db.query("SELECT alarm_id, closed_on, closed_reason FROM alarms")
        runs = db.query("SELECT alarm_state FROM scoring_runs ORDER BY interval_start")
    assert alarms.values.tolist() == [
        ["lead_scoring:2021-12-02", "2021-12-06", "no drift on 2 days in a row up to 2021-12-06"]
    ]
    assert runs["alarm_state"].tolist() == ["none", "opened", "open", "open", "open", "closed"]
    # a rerun of the first quiet day after the closing decides as that day did
    assert monitor_day(settings, "2021-12-05", "Level0").alarm_state == "open"
