"""The `served_days` table: which registered version decided each day of the daily DAG (one row per
model and interval), so a rerun or a backfill of the day scores with it, not with today's champion."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.schema import SERVED_DAYS


def served_version(db: StagingDatabase, model_name: str, interval_start: pd.Timestamp) -> str | None:
    """The version recorded for the interval starting at ``interval_start`` (naive UTC); None: never scored."""
    if not db.has_table(SERVED_DAYS):
        return None
    found = db.query(
        f"SELECT model_version FROM {SERVED_DAYS} WHERE model_name = :name AND interval_start = :start",
        name=model_name,
        start=_stamp(interval_start),
    )
    return str(found["model_version"].iloc[0]) if len(found) else None


def record_served(db: StagingDatabase, model_name: str, interval_start: pd.Timestamp, version: str) -> None:
    """Record ``version`` as the one that decided the interval (the first record of a day is kept)."""
    row = pd.DataFrame(
        [
            {
                "model_name": model_name,
                "interval_start": _stamp(interval_start),
                "model_version": str(version),
                "recorded_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
            }
        ]
    )
    key = run_key_for(f"served:{model_name}:{_stamp(interval_start)}")
    db.merge_rows(key, SERVED_DAYS, row, keys=["model_name", "interval_start"], keep=["model_version", "recorded_at"])


def _stamp(interval_start: pd.Timestamp) -> str:
    return f"{pd.Timestamp(interval_start):%Y-%m-%d %H:%M:%S}"
