"""CRM outcomes in, pure: validation (ISO dates, no offsets), the date screen, and the merge rule.

Outcomes come from the CRM as ``lead_id``, ``app_complete_flag`` (0/1) and optionally
``outcome_at``. A lead's label can change (an application completed after all): the newer label
wins, where newer means a later ``outcome_at`` when both labels carry one, else the one that
arrived later. Labels are not taken on trust: :func:`screen_outcomes` ignores outcomes dated after
their file arrived or before their lead was created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from lead_scoring.errors import InputDataError
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, OUTCOME_AT

log = logging.getLogger(__name__)

OUTCOME_COLUMNS: tuple[str, ...] = (LEAD_ID, LABEL, OUTCOME_AT)


# -- outcomes in -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatedOutcomes:
    frame: pd.DataFrame  # lead_id (text), app_complete_flag (int 0/1), outcome_at (date-time, NaT when not given)
    rows_read: int
    duplicates_dropped: int
    unknown_columns: tuple[str, ...]


def validate_outcomes(raw: pd.DataFrame, source: str) -> ValidatedOutcomes:
    """Check a CRM outcome export (text cells as read) and return it typed, one row per lead.

    Raises :class:`InputDataError` with one line naming the source, the column, how many rows and
    an example, as the lead validation does. Exact duplicate rows are dropped and counted; two
    different rows for one lead are refused (which one is true is the CRM's to say).
    """
    missing = [col for col in (LEAD_ID, LABEL) if col not in raw.columns]
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
    frame = frame[~duplicated]

    ids = frame[LEAD_ID]
    _refuse(source, LEAD_ID, ids.isna(), "missing", frame)
    _refuse(source, LEAD_ID, ids.duplicated(keep=False), "share a lead_id with a different outcome", frame)
    labels = pd.to_numeric(frame[LABEL], errors="coerce")
    _refuse(source, LABEL, frame[LABEL].isna(), "missing", frame)
    _refuse(source, LABEL, ~labels.isin([0, 1]), "not 0 or 1", frame)
    if OUTCOME_AT in frame.columns:
        given = frame[OUTCOME_AT]
        offset = given.str.contains(_OFFSET, regex=True, na=False)
        _refuse(source, OUTCOME_AT, offset, "carry a time-zone offset (give UTC date-times without one)", frame)
        # ISO 8601 only, one value at a time: a guessed format read 05/01/2022 as May 1st
        moments = pd.to_datetime(given, errors="coerce", format="ISO8601")
        bad = given.notna() & (moments.isna() | ~given.str.match(_ISO_START, na=False))
        _refuse(source, OUTCOME_AT, bad, "not a date-time (expected YYYY-MM-DD[ HH:MM:SS])", frame)
    else:
        moments = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    typed = pd.DataFrame(
        {
            LEAD_ID: ids.astype(object).to_numpy(),
            LABEL: labels.astype("int64").to_numpy(),
            OUTCOME_AT: moments.astype("datetime64[ns]").to_numpy(),
        }
    )
    return ValidatedOutcomes(typed, len(raw), int(duplicated.sum()), unknown)


_ISO_START = r"\d{4}-\d{2}-\d{2}(?:$|[T ])"
_OFFSET = r"\d(?:Z|[+-]\d{2}:?\d{2})$"  # after the time's last digit: 10:00Z, 10:00:00+05:00, 10:00-0130


def _refuse(source: str, column: str, failing: pd.Series, what: str, frame: pd.DataFrame) -> None:
    if not failing.any():
        return
    first = failing.idxmax()  # the index is the row's position in the file
    value = frame.at[first, column]
    example = "empty" if pd.isna(value) else repr(str(value))
    raise InputDataError(
        f"{source}: column '{column}': {int(failing.sum())} row(s) {what}, e.g. {example} on line {int(first) + 2}"
    )


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
