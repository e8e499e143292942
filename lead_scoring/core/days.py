"""Days given by a person (``--until``, ``--since``, ``--start``): ISO ``YYYY-MM-DD`` and nothing else.

``pd.Timestamp`` reads far more than a day: "now", "today", an offset ("2021-11-30T00:00:00+05:00",
which then cannot be compared with the naive lead dates), dd/mm/yyyy. Each of those is refused with
one line naming the option, before anything is read or written.
"""

from __future__ import annotations

import re

import pandas as pd

from lead_scoring.errors import InvalidArgumentError

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str, option: str) -> pd.Timestamp:
    """Midnight of the day ``text`` names (naive); :class:`InvalidArgumentError` for anything else."""
    value = str(text).strip()
    if _DAY.fullmatch(value):
        try:
            return pd.Timestamp(value)
        except ValueError:
            pass  # 2021-02-30: the shape of a day, not a day
    raise InvalidArgumentError(f"{option} {str(text)!r} is not a day (expected YYYY-MM-DD, e.g. 2021-11-30)")


def parse_day_range(start: str, end: str, start_option: str, end_option: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Two days, the first not after the second."""
    first, last = parse_day(start, start_option), parse_day(end, end_option)
    if first > last:
        raise InvalidArgumentError(f"{start_option} {start} is after {end_option} {end}: no day between them")
    return first, last
