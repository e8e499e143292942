"""What each scoring run did, kept: the `scoring_runs` table (one row per run key) and the MLflow scoring
run beside it, and the point-in-time pool of scores a rank policy ranks a new batch among."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray

from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.scoring import ScoringSummary, scoring_run_name
from lead_scoring.errors import LeadScoringError
from lead_scoring.schema import CREATED_DATE, LEAD_ID, PREDICTIONS, SCORED_LEADS, SCORING_RUNS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)


POOL_COLUMNS = ("role", "production", CREATED_DATE)  # what the pool filters on; older tables lack them


def production_pool(
    db: StagingDatabase, name: str, version: str, before: pd.Timestamp, limit: int, role: str = "champion"
) -> NDArray[Any]:
    """The scores a rank policy ranks a batch among, point in time: the version's production stream
    (rows written with ``production`` = 1 in ``role``) for the ``limit`` newest leads created before
    ``before``. Never the batch's own rows nor anything later; rows written before these columns
    existed have NULLs and do not count. Empty at first."""
    if limit <= 0 or not db.has_table(PREDICTIONS):
        return np.empty(0)
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns(PREDICTIONS)}
    if not set(POOL_COLUMNS) <= columns:
        return np.empty(0)
    frame = db.query(
        f"SELECT score FROM {PREDICTIONS} WHERE model_name = :name AND model_version = :version "
        f"AND role = :role AND production = 1 AND {CREATED_DATE} < :before "
        f"ORDER BY {CREATED_DATE} DESC, {LEAD_ID} DESC LIMIT :limit",
        name=name,
        version=str(version),
        role=role,
        before=f"{pd.Timestamp(before):%Y-%m-%d %H:%M:%S.%f}",
        limit=int(limit),
    )
    return frame["score"].to_numpy(dtype=float)


def production_window(
    db: StagingDatabase, name: str, version: str, start: pd.Timestamp, before: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The production stream of the leads created in [``start``, ``before``): their model input (from
    `scored_leads`; scored by any champion version: the traffic), and the scores and flags ``version``
    gave them (fewer, the days after a new champion). Empty frames before the tables exist."""
    empty = pd.DataFrame(), pd.DataFrame({"score": [], "predicted_label": []})
    if not (db.has_table(PREDICTIONS) and db.has_table(SCORED_LEADS)):
        return empty
    if not set(POOL_COLUMNS) <= {c["name"] for c in sa.inspect(db.engine).get_columns(PREDICTIONS)}:
        return empty
    rows = db.query(
        f"SELECT s.*, p.score AS pool_score, p.predicted_label AS pool_label, p.model_version AS pool_version "
        f"FROM {SCORED_LEADS} s JOIN {PREDICTIONS} p ON s.{LEAD_ID} = p.{LEAD_ID} "
        f"WHERE p.model_name = :name AND p.role = 'champion' AND p.production = 1 "
        f"AND p.{CREATED_DATE} >= :start AND p.{CREATED_DATE} < :before ORDER BY s.{LEAD_ID}",
        name=name,
        start=f"{pd.Timestamp(start):%Y-%m-%d %H:%M:%S.%f}",
        before=f"{pd.Timestamp(before):%Y-%m-%d %H:%M:%S.%f}",
    )
    pool = ["pool_score", "pool_label", "pool_version"]
    inputs = rows.drop_duplicates(LEAD_ID).drop(columns=pool).reset_index(drop=True)
    mine = rows[rows["pool_version"].astype(str) == str(version)]
    scored = pd.DataFrame({"score": mine["pool_score"].astype(float), "predicted_label": mine["pool_label"]})
    return inputs, scored.reset_index(drop=True)


def stream_began_before(db: StagingDatabase, name: str, before: pd.Timestamp) -> bool:
    """Whether the model's production stream holds a lead created before ``before`` (any version)."""
    return _production_lead(db, name, "<", before)


def production_from(db: StagingDatabase, name: str, since: pd.Timestamp) -> bool:
    """Whether the model's production stream (any version) holds a lead created at or after ``since``."""
    return _production_lead(db, name, ">=", since)


def _production_lead(db: StagingDatabase, name: str, comparison: str, when: pd.Timestamp) -> bool:
    """Whether a champion production lead of the model was created ``comparison`` (``<`` or ``>=``) ``when``."""
    if not db.has_table(PREDICTIONS):
        return False
    if not set(POOL_COLUMNS) <= {c["name"] for c in sa.inspect(db.engine).get_columns(PREDICTIONS)}:
        return False
    found = db.query(
        f"SELECT 1 AS found FROM {PREDICTIONS} WHERE model_name = :name AND role = 'champion' "
        f"AND production = 1 AND {CREATED_DATE} {comparison} :when LIMIT 1",
        name=name,
        when=f"{pd.Timestamp(when):%Y-%m-%d %H:%M:%S.%f}",
    )
    return len(found) > 0


def production_lead_ids(db: StagingDatabase, name: str, version: str | None, lead_ids: list[str]) -> set[str]:
    """Which of ``lead_ids`` the version (None: any version of the model) already scored in the
    production stream (in any role)."""
    if not db.has_table(PREDICTIONS) or "production" not in {
        c["name"] for c in sa.inspect(db.engine).get_columns(PREDICTIONS)
    }:
        return set()
    found: set[str] = set()
    which = "" if version is None else "AND model_version = :version "
    statement = sa.text(
        f"SELECT DISTINCT {LEAD_ID} FROM {PREDICTIONS} WHERE model_name = :name {which}"
        f"AND production = 1 AND {LEAD_ID} IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with db.engine.connect() as conn:
        for start in range(0, len(lead_ids), 500):  # SQLite's limit on bound parameters
            chunk = lead_ids[start : start + 500]
            params = {"name": name, "ids": chunk} | ({} if version is None else {"version": str(version)})
            rows = conn.execute(statement, params)
            found.update(str(row[0]) for row in rows)
    return found


def quiet_days_before(db: StagingDatabase, name: str, since: str, before: pd.Timestamp) -> int:
    """How many daily runs of the model, the latest ones from day ``since`` (YYYY-MM-DD) up to the day
    before ``before``, were not drifted in a row (what an open alarm needs to close)."""
    if not db.has_table(SCORING_RUNS):
        return 0
    runs = db.query(
        f"SELECT interval_start, status FROM {SCORING_RUNS} WHERE model_name = :name AND interval_start IS NOT NULL",
        name=name,
    )
    starts = pd.to_datetime(runs["interval_start"], utc=True, format="ISO8601", errors="coerce").dt.tz_localize(None)
    inside = runs.assign(day=starts.dt.normalize())
    inside = inside[(inside["day"] >= pd.Timestamp(since)) & (inside["day"] < pd.Timestamp(before).normalize())]
    quiet = 0
    for status in inside.sort_values("day", ascending=False)["status"]:
        if status == "drifted":
            break
        quiet += 1
    return quiet


def record_run(
    db: StagingDatabase, settings: Settings, summary: ScoringSummary, interval: tuple[str, str] | None
) -> None:
    """One `scoring_runs` row per run key (replaced on rerun), and the same figures in MLflow."""
    monitoring = summary.monitoring
    row = pd.DataFrame(
        [
            {
                "run_key": summary.run_key,
                "source": summary.source,
                "interval_start": interval[0] if interval else None,
                "interval_end": interval[1] if interval else None,
                "model_name": summary.model_name,
                "model_version": summary.model_version,
                "rows_scored": summary.rows_scored,
                "positives": summary.positives,
                "positive_share": monitoring.positive_share,
                "expected_positive_share": monitoring.expected_positive_share,
                "score_psi": monitoring.score_psi,
                "max_feature_psi": monitoring.max_feature_psi,
                "drift": json.dumps(dict(monitoring.feature_psi), sort_keys=True),
                "drifted_features": ",".join(monitoring.drifted_features),
                "unusual_inputs": json.dumps(summary.unusual, sort_keys=True),
                "status": summary.status,
                "decision": summary.decision,
                "pool_leads": summary.pool_leads,
                "alarm_id": summary.alarm_id or None,
                "alarm_state": summary.alarm_state,
                "alarm": summary.alarm or None,
                "recorded_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
            }
        ]
    )
    db.merge_rows(run_key_for("runs:" + summary.run_key), SCORING_RUNS, row, keys=["run_key"])
    try:
        log_scoring_run(settings, summary)
    except LeadScoringError:
        raise
    except Exception:  # noqa: BLE001 - monitoring in MLflow must not lose the scores already written
        log.exception("could not log scoring run %s to MLflow", summary.run_key)


def log_scoring_run(settings: Settings, summary: ScoringSummary) -> None:
    """The run's monitoring figures in MLflow (experiment `<experiment>-scoring`), one run per run key."""
    monitoring = summary.monitoring
    metrics: dict[str, float | None] = {
        "rows_scored": summary.rows_scored,
        **monitoring.metrics(),
        **{f"psi_{k}": v for k, v in monitoring.feature_psi.items()},
    }
    if summary.share is not None:  # the day's share, the base-rate estimate behind it, and why
        metrics.update(summary.share.metrics())
    tags = {"model_version": str(summary.model_version), "status": summary.status, "source": summary.source}
    if summary.share is not None:
        tags.update(share_status=summary.share.status, share_reason=summary.share.reason[:4000])
    if summary.alarm:  # the alarm's state that day, visible beside the figures
        tags.update(alarm_state=summary.alarm_state, alarm_id=summary.alarm_id, alarm=summary.alarm[:4000])
    name = scoring_run_name(summary.run_key, summary.source, summary.rows_scored)
    tracking(settings).monitoring.log_scoring_run(summary.run_key, name, metrics, tags)
