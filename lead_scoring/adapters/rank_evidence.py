"""What a day's decision reads, point in time: the production leads a version ranks a batch among
(its warm pool) and the recent labelled leads with the scores they were served with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray

from lead_scoring.adapters.scoring_runs import POOL_COLUMNS
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, OUTCOME_AT, OUTCOMES, PREDICTIONS, SCORED_LEADS


def _stamp(when: pd.Timestamp) -> str:
    return f"{pd.Timestamp(when):%Y-%m-%d %H:%M:%S.%f}"


def _has_stream(db: StagingDatabase) -> bool:
    if not (db.has_table(PREDICTIONS) and db.has_table(SCORED_LEADS)):
        return False
    return set(POOL_COLUMNS) <= {c["name"] for c in sa.inspect(db.engine).get_columns(PREDICTIONS)}


def production_leads(
    db: StagingDatabase, name: str, start: pd.Timestamp, before: pd.Timestamp, limit: int
) -> pd.DataFrame:
    """The model input (from `scored_leads`) of the ``limit`` newest production leads created in
    [``start``, ``before``): the leads a champion of ``name`` (any version) scored in the production
    stream. Never a lead created on or after ``before``; an ad-hoc file's leads are not production."""
    if limit <= 0 or not _has_stream(db):
        return pd.DataFrame()
    rows = db.query(
        f"SELECT s.* FROM {SCORED_LEADS} s WHERE s.{LEAD_ID} IN (SELECT p.{LEAD_ID} FROM {PREDICTIONS} p "
        f"WHERE p.model_name = :name AND p.role = 'champion' AND p.production = 1 "
        f"AND p.{CREATED_DATE} >= :start AND p.{CREATED_DATE} < :before) "
        f"ORDER BY s.{CREATED_DATE} DESC, s.{LEAD_ID} DESC LIMIT :limit",
        name=name,
        start=_stamp(start),
        before=_stamp(before),
        limit=int(limit),
    )
    if len(rows):
        rows[CREATED_DATE] = pd.to_datetime(rows[CREATED_DATE], format="ISO8601")
    return rows.reset_index(drop=True)


def served_outcomes(
    db: StagingDatabase, name: str, start: pd.Timestamp, before: pd.Timestamp
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Scores and labels of the production leads created in [``start``, ``before``) whose outcome was
    known before ``before`` (its ``outcome_at``, else when it was received): the score is the one the
    champion served the lead with (the first, when a lead was scored by two versions)."""
    empty = np.empty(0), np.empty(0)
    if not (_has_stream(db) and db.has_table(OUTCOMES)):
        return empty
    rows = db.query(
        f"SELECT p.{LEAD_ID} AS lead, p.score AS score, p.scored_at AS scored_at, o.{LABEL} AS label "
        f"FROM {PREDICTIONS} p JOIN {OUTCOMES} o ON p.{LEAD_ID} = o.{LEAD_ID} "
        f"WHERE p.model_name = :name AND p.role = 'champion' AND p.production = 1 "
        f"AND p.{CREATED_DATE} >= :start AND p.{CREATED_DATE} < :before "
        f"AND COALESCE(o.{OUTCOME_AT}, o.received_at) < :before ORDER BY p.{LEAD_ID}, p.scored_at",
        name=name,
        start=_stamp(start),
        before=_stamp(before),
    )
    rows = rows.drop_duplicates("lead", keep="first")
    return rows["score"].to_numpy(dtype=float), rows["label"].to_numpy(dtype=float)
