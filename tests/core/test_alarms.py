"""A drift alarm opens once per episode, stays open without a new alarm, and closes when the drift
ends or when a champion trained on the new traffic serves; a rerun of a day decides the same."""

from __future__ import annotations

from dataclasses import replace

from lead_scoring.core.alarms import Alarm, DayChecks, alarm_rows, alarms_from_rows, decide_alarm

MOVED = ("first_platform_c_raw",)


def run(day: str, moved=MOVED, alarms=(), trained_until="2021-09-30 20:26:05", version="1"):
    figures = "first_platform_c_raw PSI 0.430"
    return decide_alarm("lead_scoring", version, DayChecks(day, moved, figures), list(alarms), trained_until)


def test_an_alarm_opens_once_and_closes_when_the_drift_ends():
    opened = run("2021-10-20")
    assert opened.state == "opened" and opened.changed is not None
    alarm = opened.changed
    assert (alarm.alarm_id, alarm.opened_on, alarm.moved) == ("lead_scoring:2021-10-20", "2021-10-20", MOVED[0])
    assert "retrain" in alarm.action and "2021-10-20" in alarm.action
    assert opened.line.startswith("OPENED today: first_platform_c_raw moved (first_platform_c_raw PSI 0.430)")
    # the next days of the episode: open, nothing to store, no second alarm
    for day in ("2021-10-21", "2021-10-25"):
        later = run(day, alarms=[alarm])
        assert (later.state, later.alarm, later.changed) == ("open", alarm, None)
        assert later.line.startswith("open since 2021-10-20")
    # the drift ends
    closed = run("2021-10-26", moved=(), alarms=[alarm])
    assert closed.state == "closed"
    assert closed.changed == replace(alarm, closed_on="2021-10-26", closed_reason="no drift on 2021-10-26")
    # after it: nothing, and drift on a later day is a new episode
    assert run("2021-10-27", moved=(), alarms=[closed.changed]).state == "none"
    assert run("2021-11-02", alarms=[closed.changed]).changed.alarm_id == "lead_scoring:2021-11-02"


def test_an_alarm_closes_when_a_champion_trained_on_the_new_traffic_serves():
    alarm = run("2021-10-20").changed
    # a champion trained up to the day before the alarm has not seen the new traffic
    assert run("2021-10-28", alarms=[alarm], trained_until="2021-10-19 23:00:00", version="2").state == "open"
    # one trained on leads of the alarm's first day has
    assert run("2021-10-28", alarms=[alarm], trained_until="2021-10-20 08:00:00", version="3").state == "closed"
    closed = run("2021-10-28", alarms=[alarm], trained_until="2021-10-24 18:00:00", version="3")
    assert closed.state == "closed"
    assert closed.changed.closed_reason == "v3, trained on leads up to 2021-10-24, serves"


def test_a_rerun_of_a_day_decides_the_same():
    alarm = run("2021-10-20").changed
    closed = run("2021-10-26", moved=(), alarms=[alarm]).changed
    # the opening day again: opened again (the task fails again) but the later closing stays
    again = run("2021-10-20", alarms=[closed])
    assert (again.state, again.alarm, again.changed) == ("opened", closed, None)
    assert run("2021-10-22", alarms=[closed]).state == "open"  # a day inside the episode
    assert run("2021-10-26", moved=(), alarms=[closed]).changed == closed  # the closing day


def test_alarms_survive_the_table():
    alarm = run("2021-10-20").changed
    closed = replace(alarm, closed_on="2021-10-26", closed_reason="no drift on 2021-10-26")
    assert alarms_from_rows(alarm_rows([alarm, closed])) == [alarm, closed]
    assert isinstance(alarms_from_rows(alarm_rows([alarm]))[0], Alarm)


def test_drifted_quiet_drifted_is_one_alarm_when_closing_needs_quiet_days():
    """Flicker (#29.5): one quiet day between two drifted ones closed the alarm and opened a second."""
    alarm = run("2021-10-20").changed
    quiet = decide_alarm("lead_scoring", "1", DayChecks("2021-10-21", (), "", 0), [alarm], None, quiet_days=3)
    assert (quiet.state, quiet.alarm, quiet.changed) == ("open", alarm, None)
    again = decide_alarm("lead_scoring", "1", DayChecks("2021-10-22", MOVED, "", 0), [alarm], None, quiet_days=3)
    assert (again.state, again.alarm, again.changed) == ("open", alarm, None)


def test_an_alarm_closes_on_its_third_quiet_day_in_a_row():
    alarm = run("2021-10-20").changed
    second = decide_alarm("lead_scoring", "1", DayChecks("2021-10-24", (), "", 1), [alarm], None, quiet_days=3)
    assert second.state == "open"
    third = decide_alarm("lead_scoring", "1", DayChecks("2021-10-25", (), "", 2), [alarm], None, quiet_days=3)
    assert third.state == "closed"
    assert third.changed == replace(
        alarm, closed_on="2021-10-25", closed_reason="no drift on 3 days in a row up to 2021-10-25"
    )
