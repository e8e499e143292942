"""CRM outcomes in, pure: validation (ISO dates, no offsets), the date screen, and the merge rule.

Outcomes come from the CRM as ``lead_id``, ``app_complete_flag`` (0/1) and optionally
``outcome_at``. A lead's label can change (an application completed after all): the newer label
wins, where newer means a later ``outcome_at`` when both labels carry one, else the one that
arrived later. Labels are not taken on trust: :func:`screen_outcomes` ignores outcomes dated after
their file arrived or before their lead was created.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from lead_scoring.core.validation import describe_failures
from lead_scoring.errors import InputDataError
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, OUTCOME_AT, OUTCOME_COLUMNS, REQUIRED_OUTCOME_COLUMNS

log = logging.getLogger(__name__)


# -- outcomes in -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatedOutcomes:
    frame: pd.DataFrame  # lead_id (text), app_complete_flag (int 0/1), outcome_at (date-time, NaT when not given)
    rows_read: int
    duplicates_dropped: int
    unknown_columns: tuple[str, ...]


def _outcome_schema() -> pa.DataFrameSchema:
    """The outcome columns' rules, checked on the text as read (the typed frame is built after)."""
    return pa.DataFrameSchema(
        {
            LEAD_ID: pa.Column(nullable=False, unique=True),
            LABEL: pa.Column(nullable=False, checks=pa.Check(_zero_or_one, name="zero_or_one")),
            OUTCOME_AT: pa.Column(
                nullable=True,
                required=False,
                checks=[pa.Check(_no_offset, name="no_offset"), pa.Check(_iso_date_time, name="iso_date_time")],
            ),
        },
        strict=False,
        ordered=False,
    )


def _zero_or_one(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").isin([0, 1])


def _no_offset(values: pd.Series) -> pd.Series:
    return ~values.str.contains(_OFFSET, regex=True, na=False)


def _iso_date_time(values: pd.Series) -> pd.Series:
    # ISO 8601 only, one value at a time: a guessed format read 05/01/2022 as May 1st
    moments = pd.to_datetime(values, errors="coerce", format="ISO8601")
    return moments.notna() & values.str.match(_ISO_START, na=False)


# pandera's failed checks in words, reported in this order within a column
_OUTCOME_WORDS = [
    (re.compile(r"not_nullable"), "missing"),
    (re.compile(r"field_uniqueness"), "share a lead_id with a different outcome"),
    (re.compile(r"^zero_or_one$"), "not 0 or 1"),
    (re.compile(r"^no_offset$"), "carry a time-zone offset (give UTC date-times without one)"),
    (re.compile(r"^iso_date_time$"), "not a date-time (expected YYYY-MM-DD[ HH:MM:SS])"),
]


def validate_outcomes(raw: pd.DataFrame, source: str) -> ValidatedOutcomes:
    """Check a CRM outcome export (text cells as read) and return it typed, one row per lead.

    The rules are a pandera schema of :data:`~lead_scoring.schema.OUTCOME_COLUMNS`, refused as the
    lead validation refuses (:func:`~lead_scoring.core.validation.describe_failures`): one line
    naming the source, the column, how many rows and an example. Exact duplicate rows are dropped
    and counted; two different rows for one lead are refused (which one is true is the CRM's to say).
    """
    missing = [col for col in REQUIRED_OUTCOME_COLUMNS if col not in raw.columns]
    if missing:
        raise InputDataError(f"{source}: missing required column(s): {', '.join(missing)}")
    if raw.empty:
        raise InputDataError(f"{source}: no outcome rows")
    unknown = tuple(col for col in raw.columns if col not in OUTCOME_COLUMNS)
    if unknown:
        log.warning("%s: ignoring unknown column(s): %s", source, ", ".join(unknown))
    frame = raw[[col for col in OUTCOME_COLUMNS if col in raw.columns]].copy()
    for col in frame.columns:
        frame[col] = frame[col].astype("string").str.strip().replace("", pd.NA)
    duplicated = frame.duplicated()
    frame = frame[~duplicated]  # the index keeps each row's position in the file, for messages
    try:
        _outcome_schema().validate(frame, lazy=True)
    except SchemaErrors as exc:
        raise InputDataError(
            describe_failures(exc.failure_cases, frame, source, OUTCOME_COLUMNS, _OUTCOME_WORDS)
        ) from None
    if OUTCOME_AT in frame.columns:
        moments = pd.to_datetime(frame[OUTCOME_AT], format="ISO8601")
    else:
        moments = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    typed = pd.DataFrame(
        {
            LEAD_ID: frame[LEAD_ID].astype(object).to_numpy(),
            LABEL: pd.to_numeric(frame[LABEL]).astype("int64").to_numpy(),
            OUTCOME_AT: moments.astype("datetime64[ns]").to_numpy(),
        }
    )
    return ValidatedOutcomes(typed, len(raw), int(duplicated.sum()), unknown)


_ISO_START = r"\d{4}-\d{2}-\d{2}(?:$|[T ])"
_OFFSET = r"\d(?:Z|[+-]\d{2}:?\d{2})$"  # after the time's last digit: 10:00Z, 10:00:00+05:00, 10:00-0130


@dataclass(frozen=True)
class ScreenedOutcomes:
    """The outcomes a plain date check lets through, and how many each rule ignored."""

    kept: pd.DataFrame
    after_arrival: int  # dated after the file arrived (beyond the clock skew): a label from the future
    before_lead: int  # dated before the day its lead was created


def screen_outcomes(
    outcomes: pd.DataFrame, created: pd.DataFrame, *, arrived: pd.Timestamp, clock_skew: pd.Timedelta
) -> ScreenedOutcomes:
    """Ignore outcomes whose ``outcome_at`` cannot be true (a plain check, not a detector).

    An outcome dated after ``arrived`` + ``clock_skew`` would win against every true label that
    comes later ("the newer label wins"), so one bad file would fix a label for good; one dated
    before the day its lead was created (``created``: lead_id, created_date) is not about that
    lead. Outcomes without a moment, and of leads not in ``created``, pass (checked when matched).
    """
    moment = pd.to_datetime(outcomes[OUTCOME_AT])
    lead_day = outcomes[LEAD_ID].map(created.drop_duplicates(LEAD_ID).set_index(LEAD_ID)[CREATED_DATE])
    future = (moment > pd.Timestamp(arrived) + clock_skew).to_numpy()
    early = (moment < pd.to_datetime(lead_day).dt.normalize()).to_numpy() & ~future
    kept = outcomes[~(future | early)].reset_index(drop=True)
    return ScreenedOutcomes(kept, int(future.sum()), int(early.sum()))


@dataclass(frozen=True)
class OutcomeMerge:
    """What a batch of outcomes does to the stored ones."""

    rows: pd.DataFrame  # the outcomes to upsert: new leads and changed labels, OUTCOME_COLUMNS
    new: int
    changed: int  # a different label for a lead that had one: the newer won
    unchanged: int  # the same label again: nothing to write
    stale: int  # a different label older than the stored one: ignored


def merge_outcomes(stored: pd.DataFrame, incoming: pd.DataFrame) -> OutcomeMerge:
    """Apply "the newer label wins" to ``incoming`` outcomes against the ``stored`` ones.

    Newer: the later ``outcome_at`` when both carry one; otherwise the incoming label, which
    arrived later. The same label again is not written, so a rerun of a file changes nothing.
    """
    previous = stored.set_index(LEAD_ID)[[LABEL, OUTCOME_AT]] if len(stored) else None
    if previous is None:
        return OutcomeMerge(incoming[list(OUTCOME_COLUMNS)].reset_index(drop=True), len(incoming), 0, 0, 0)
    known = incoming[LEAD_ID].isin(previous.index).to_numpy()
    before = previous.reindex(incoming[LEAD_ID])
    differs = known & (before[LABEL].to_numpy() != incoming[LABEL].to_numpy())
    stored_at = pd.to_datetime(before[OUTCOME_AT]).to_numpy()
    given_at = incoming[OUTCOME_AT].to_numpy()
    older = ~pd.isna(stored_at) & ~pd.isna(given_at) & (given_at < stored_at)
    stale = differs & older
    changed = differs & ~older
    write = ~known | changed
    return OutcomeMerge(
        rows=incoming.loc[write, list(OUTCOME_COLUMNS)].reset_index(drop=True),
        new=int((~known).sum()),
        changed=int(changed.sum()),
        unchanged=int((known & ~differs).sum()),
        stale=int(stale.sum()),
    )
