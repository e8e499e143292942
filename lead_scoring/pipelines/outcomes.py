"""CRM outcomes in: validate, screen the dates, match to scored leads, upsert into `outcomes`.

Labels are not taken on trust: an outcome dated after its file arrived (beyond
LEAD_SCORING_OUTCOME_CLOCK_SKEW_MINUTES) or before its lead was created is ignored and counted.
Outcomes of leads not scored yet are kept aside in `unmatched_outcomes` and matched on a later
run, once their lead has been scored. Every write uses keys of its own run, so two runs at once
never drop each other's scratch tables.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lead_scoring.adapters.sources import read_raw_leads
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.outcomes import merge_outcomes, screen_outcomes, validate_outcomes
from lead_scoring.errors import InputDataError
from lead_scoring.schema import (
    CREATED_DATE,
    LEAD_ID,
    OUTCOME_AT,
    OUTCOME_COLUMNS,
    OUTCOMES,
    SCORED_LEADS,
    UNMATCHED_OUTCOMES,
)
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSummary:
    source: str
    rows_read: int
    duplicates_dropped: int
    matched: int  # outcomes of leads scored here (this file's, and earlier ones kept aside)
    new: int
    changed: int
    unchanged: int
    stale: int
    unmatched: int  # outcomes of leads never scored: kept aside in `unmatched_outcomes`
    lead_ids: tuple[str, ...]  # the matched leads, for the realized figures of this file
    after_arrival: int = 0  # ignored: dated after the file arrived
    before_lead: int = 0  # ignored: dated before the day their lead was created
    rematched: int = 0  # kept aside by an earlier run, their lead scored since: matched now


def now_utc() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))


def arrival(path: Path) -> pd.Timestamp:
    """When the file arrived: its modification time, never later than now (naive UTC).

    A rerun of the same file judges its dates against the same moment; a file stamped in the
    future gains nothing.
    """
    modified = pd.Timestamp(datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None))
    return min(modified, now_utc())


def ingest_outcomes(settings: Settings, path: str | Path) -> IngestSummary:
    """Validate an outcome export, then upsert it into `outcomes` (the newer label wins).

    Nothing is written when the file is bad. Leads never scored are counted and kept aside, and
    matched by a later run once they are scored.
    """
    path = Path(path)
    checked = validate_outcomes(read_raw_leads(path), str(path))
    skew = pd.Timedelta(minutes=settings.feedback.outcome_clock_skew_minutes)
    run = uuid.uuid4().hex  # this run's own scratch keys: a second run at once has others
    with StagingDatabase(settings.db_url) as db:
        if not db.has_table(SCORED_LEADS):
            raise InputDataError(
                f"no scored leads in {db.redacted_url} to match outcomes with: run `lead-scoring score` first"
            )
        created = db.read_table(SCORED_LEADS, columns=[LEAD_ID, CREATED_DATE])
        created[LEAD_ID] = created[LEAD_ID].astype(str)
        screened = screen_outcomes(checked.frame, created, arrived=arrival(path), clock_skew=skew)
        incoming = screened.kept
        scored_ids = set(created[LEAD_ID])
        aside = _aside_now_scored(db, scored_ids)
        in_file = aside[LEAD_ID].isin(set(incoming[LEAD_ID]))  # this file's outcome arrived later: it wins
        late = screen_outcomes(aside[~in_file], created, arrived=now_utc(), clock_skew=skew)
        is_scored = incoming[LEAD_ID].isin(scored_ids)
        matched = incoming[is_scored].reset_index(drop=True)
        if len(late.kept):
            matched = pd.concat([late.kept, matched], ignore_index=True)
        unmatched = incoming[~is_scored].reset_index(drop=True)
        stored = db.read_table(OUTCOMES, columns=list(OUTCOME_COLUMNS)) if db.has_table(OUTCOMES) else None
        stored = stored[stored[LEAD_ID].isin(set(matched[LEAD_ID]))] if stored is not None else matched.head(0)
        merge = merge_outcomes(stored, matched)
        received = now_utc()
        if len(merge.rows):
            db.merge_rows(run_key_for(f"outcomes:{run}"), OUTCOMES, merge.rows.assign(received_at=received), [LEAD_ID])
        if len(unmatched):
            db.merge_rows(
                run_key_for(f"unmatched:{run}"), UNMATCHED_OUTCOMES, unmatched.assign(received_at=received), [LEAD_ID]
            )
        if len(aside):  # matched (or ignored) now: no longer aside
            db.delete_rows(UNMATCHED_OUTCOMES, LEAD_ID, aside[LEAD_ID].tolist())
    summary = IngestSummary(
        source=str(path),
        rows_read=checked.rows_read,
        duplicates_dropped=checked.duplicates_dropped,
        matched=len(matched),
        new=merge.new,
        changed=merge.changed,
        unchanged=merge.unchanged,
        stale=merge.stale,
        unmatched=len(unmatched),
        lead_ids=tuple(matched[LEAD_ID].astype(str)),
        after_arrival=screened.after_arrival + late.after_arrival,
        before_lead=screened.before_lead + late.before_lead,
        rematched=len(late.kept),
    )
    log.info(
        "%s: %d outcome(s) of scored leads (%d new, %d changed, %d kept aside before), %d never scored, "
        "%d dated after arrival and %d before their lead ignored",
        path,
        summary.matched,
        summary.new,
        summary.changed,
        summary.rematched,
        summary.unmatched,
        summary.after_arrival,
        summary.before_lead,
    )
    return summary


def _aside_now_scored(db: StagingDatabase, scored_ids: set[str]) -> pd.DataFrame:
    """Outcomes kept aside by earlier runs whose lead has been scored since."""
    if not db.has_table(UNMATCHED_OUTCOMES):
        return pd.DataFrame({col: pd.Series(dtype=object) for col in OUTCOME_COLUMNS})
    aside = db.read_table(UNMATCHED_OUTCOMES, columns=list(OUTCOME_COLUMNS))
    aside[LEAD_ID] = aside[LEAD_ID].astype(str)
    aside[OUTCOME_AT] = pd.to_datetime(aside[OUTCOME_AT])
    return aside[aside[LEAD_ID].isin(scored_ids)].reset_index(drop=True)
