"""The `alarms` table: one row per drift episode of a registered model's daily stream (see
:mod:`lead_scoring.core.alarms`)."""

from __future__ import annotations

from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.alarms import Alarm, alarm_rows, alarms_from_rows
from lead_scoring.schema import ALARMS


def read_alarms(db: StagingDatabase, model_name: str) -> list[Alarm]:
    """Every alarm of the model, oldest first (none before the table exists)."""
    if not db.has_table(ALARMS):
        return []
    rows = db.query(f"SELECT * FROM {ALARMS} WHERE model_name = :name ORDER BY opened_on", name=model_name)
    return alarms_from_rows(rows)


def store_alarm(db: StagingDatabase, alarm: Alarm) -> None:
    """Insert or replace the alarm's row (keyed by its id)."""
    db.merge_rows(run_key_for("alarm:" + alarm.alarm_id), ALARMS, alarm_rows([alarm]), keys=["alarm_id"])
