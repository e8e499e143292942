"""Reading raw lead exports from disk: the file edge of the data pipeline."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from lead_scoring.errors import InputDataError

log = logging.getLogger(__name__)

# Empty cells and the literal string "nan" both mean missing in the CodePro exports.
MISSING_MARKERS = ["", "nan", "NaN", "NAN", "null", "NULL", "None"]


def read_raw_leads(path: str | Path) -> pd.DataFrame:
    """Read a raw lead export as text columns (parsing is validation's job, so errors can quote values)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: no such file")
    if not path.is_file():
        raise InputDataError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: the file is empty (expected a CSV header and lead rows)")
    _check_text(path)
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=MISSING_MARKERS,
            encoding="utf-8",
            engine="c",
            skipinitialspace=True,
        )
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise InputDataError(f"{path}: not UTF-8 text (byte {byte:#04x} at offset {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}: the file is empty (expected a CSV header and lead rows)") from None
    except pd.errors.ParserError as exc:
        first_line = str(exc).splitlines()[0]
        raise InputDataError(f"{path}: not a well-formed CSV file ({first_line})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputDataError(f"{path}: the file has a header but no lead rows")
    log.info("read %d rows and %d columns from %s", len(frame), frame.shape[1], path)
    return frame


def _check_text(path: Path) -> None:
    """Refuse binary files early: a NUL byte or undecodable bytes in the first 64 KiB."""
    with path.open("rb") as handle:
        head = handle.read(65536)
    if b"\x00" in head:
        raise InputDataError(f"{path}: not a text file (it contains NUL bytes); expected a UTF-8 CSV export")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the buffer end is fine
            raise InputDataError(
                f"{path}: not UTF-8 text (byte {head[exc.start]:#04x} at offset {exc.start})"
            ) from None
