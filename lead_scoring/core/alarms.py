"""Drift alarms a person can act on, pure: one alarm per episode, opened on the first drifted day.

A day of the daily DAG either finds no open alarm (``none``), opens one (``opened``: the monitor task
fails so Airflow's alerting fires), finds one open and still drifted (``open``: recorded, the task
passes), or closes it (``closed``): the drift ended (no drift on ``LEAD_SCORING_ALARM_QUIET_DAYS``
days in a row: one quiet day between two drifted ones does not end the episode), or a champion
trained on leads up to the alarm's first day or later serves (it has learned the new traffic).

The decision for a day depends only on the alarms opened before it and on the day's own report, so
a rerun of the day decides the same: a rerun of the day that opened an alarm opens it again (and
fails again), a rerun of a day inside an episode records it as open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

AlarmState = Literal["none", "opened", "open", "closed"]


@dataclass(frozen=True)
class Alarm:
    """One drift episode of a registered model's daily stream."""

    alarm_id: str  # "<model name>:<first day>"
    model_name: str
    opened_on: str  # YYYY-MM-DD: the first drifted day of the episode
    moved: str  # the checks that fired that day, e.g. "first_platform_c_raw, score"
    figures: str  # what they measured, for a person
    action: str  # what to do about it
    opened_by_version: str
    closed_on: str | None = None  # YYYY-MM-DD: the first day it no longer held
    closed_reason: str | None = None


@dataclass(frozen=True)
class AlarmDecision:
    state: AlarmState
    alarm: Alarm | None  # the episode the day belongs to (None: no episode)
    changed: Alarm | None  # the alarm row to store (opened or closed today), else None

    @property
    def line(self) -> str:
        """One line for the CLI summary, the task log and MLflow."""
        if self.alarm is None:
            return ""
        alarm = self.alarm
        if self.state == "closed":
            return f"closed ({alarm.closed_reason}); it had been open since {alarm.opened_on} ({alarm.moved})"
        verb = "OPENED today" if self.state == "opened" else f"open since {alarm.opened_on}"
        return f"{verb}: {alarm.moved} moved ({alarm.figures}). Action: {alarm.action}"


BASE_RATE = "base rate"  # the check that fires when the day's share cannot follow its base-rate estimate


def suggested_action(moved: Sequence[str], day: str) -> str:
    """What a person should do about the checks that fired."""
    steps = []
    features = [m for m in moved if m not in ("score", "flagged share", BASE_RATE)]
    if features:
        steps.append(
            f"ask marketing what changed in {', '.join(features)} around {day}; once the outcomes of the new "
            f"leads are fed back, retrain and promote a model trained on leads up to {day} or later "
            "(the alarm closes when it serves)"
        )
    if "score" in moved or "flagged share" in moved:
        steps.append(
            "compare the day's scores with the reference (scoring_runs, the MLflow scoring run); if the leads "
            "did not change, a scale shift of the model: roll back (`lead-scoring rollback`) or retrain"
        )
    if BASE_RATE in moved:
        steps.append(
            "the base rate estimated on the unlabelled leads and the labelled leads' rate disagree, so the flags "
            "follow the labelled rate, weeks late: look for a change of traffic (the features) or of conversions "
            "(the next outcomes)"
        )
    return "; ".join(steps) or "look at the day's scoring run"


@dataclass(frozen=True)
class DayChecks:
    """What a day's checks found: ``day`` (YYYY-MM-DD), the checks that fired on it (``moved``, empty:
    none) with their ``figures``, and ``quiet_before``: the quiet days recorded right before it in the
    episode."""

    day: str
    moved: Sequence[str] = ()
    figures: str = ""
    quiet_before: int = 0


def decide_alarm(
    model_name: str,
    version: str,
    checks: DayChecks,
    alarms: Sequence[Alarm],
    trained_until: str | None,
    *,
    quiet_days: int = 1,
) -> AlarmDecision:
    """The alarm state of ``checks.day`` given what its checks found and the model's alarms opened
    before; ``trained_until``: the newest training lead of the serving version (its `trained_until` tag).

    An open alarm closes on its ``quiet_days``-th quiet day in a row (``checks.quiet_before``: the quiet
    days recorded right before the day in the episode), so drifted, quiet, drifted is one episode, not two."""
    day, moved, figures, quiet_before = checks.day, checks.moved, checks.figures, checks.quiet_before
    prior = [a for a in alarms if a.model_name == model_name and a.opened_on < day]
    # the episode the day falls in: opened before it and not closed before it (a rerun of the closing
    # day finds the alarm it closed)
    episode = max(
        (a for a in prior if a.closed_on is None or a.closed_on >= day), key=lambda a: a.opened_on, default=None
    )
    if episode is not None:
        covered = trained_until is not None and _day(trained_until) >= episode.opened_on
        quiet = not moved and quiet_before + 1 >= quiet_days
        if quiet or covered:
            reason = (
                f"v{version}, trained on leads up to {_day(str(trained_until))}, serves"
                if not quiet
                else f"no drift on {day}"
                if quiet_days <= 1
                else f"no drift on {quiet_days} days in a row up to {day}"
            )
            closed = replace(episode, closed_on=day, closed_reason=reason)
            return AlarmDecision("closed", closed, closed)
        return AlarmDecision("open", episode, None)
    if not moved:
        return AlarmDecision("none", None, None)
    again = [a for a in alarms if a.alarm_id == f"{model_name}:{day}"]
    if again:  # a rerun of the day that opened it: the same decision, and a later closing stays
        return AlarmDecision("opened", again[0], None)
    opened = Alarm(
        alarm_id=f"{model_name}:{day}",
        model_name=model_name,
        opened_on=day,
        moved=", ".join(moved),
        figures=figures,
        action=suggested_action(moved, day),
        opened_by_version=str(version),
    )
    return AlarmDecision("opened", opened, opened)


def alarm_rows(alarms: Sequence[Alarm]) -> pd.DataFrame:
    """The `alarms` table's rows."""
    return pd.DataFrame([vars(a) for a in alarms], columns=list(Alarm.__dataclass_fields__))


def alarms_from_rows(rows: pd.DataFrame) -> list[Alarm]:
    def value(row: Mapping[str, object], key: str) -> str | None:
        found = row.get(key)
        return None if found is None or (isinstance(found, float) and pd.isna(found)) else str(found)

    return [
        Alarm(**{key: value(row, key) for key in Alarm.__dataclass_fields__})  # type: ignore[arg-type]
        for row in rows.to_dict("records")
    ]


def _day(stamp: str) -> str:
    return f"{pd.Timestamp(stamp):%Y-%m-%d}"
