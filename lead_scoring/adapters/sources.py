"""Reading raw lead exports from disk: the file edge of the data pipeline."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import pandas as pd

from lead_scoring.errors import InputDataError
from lead_scoring.schema import LEAD_ID

log = logging.getLogger(__name__)

# Empty cells and the literal string "nan" both mean missing in the CodePro exports.
# Not in a lead_id column: there every text is an id, and only an empty cell is missing.
MISSING_MARKERS = ["", "nan", "NaN", "NAN", "null", "NULL", "None"]

# A lead export has 44 columns plus the label and a lead id; far more is not a lead export (and a
# header of thousands of columns costs pandas time for nothing).
MAX_COLUMNS = 1000


def read_raw_leads(path: str | Path) -> pd.DataFrame:
    """Read a raw lead export as text columns (parsing is validation's job, so errors can quote values)."""
    path = Path(path)
    header = _checked_file(path)
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            # per column: a lead id of "None" or "nan" is an id, not a missing value
            na_values={name: MISSING_MARKERS for name in header if name.strip() != LEAD_ID},
            encoding="utf-8",
            engine="c",
            skipinitialspace=True,
        )
    except UnicodeDecodeError:
        # pandas' offset is into its own read buffer: find the byte in the file
        offset, byte = _first_undecodable(path)
        raise InputDataError(f"{path}: not UTF-8 text (byte {byte:#04x} at offset {offset})") from None
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}: the file is empty (expected a CSV header and lead rows)") from None
    except pd.errors.ParserError as exc:
        first_line = str(exc).splitlines()[0]
        raise InputDataError(f"{path}: not a well-formed CSV file ({first_line})") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes a first column without a header name as the index
        raise InputDataError(
            f"{path}: the rows have one field more than the header (a comma at the end of every line?)"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputDataError(f"{path}: the file has a header but no lead rows")
    log.info("read %d rows and %d columns from %s", len(frame), frame.shape[1], path)
    return frame


def read_column(path: str | Path, column: str) -> pd.Series:
    """One column of an export as text, after the same checks of the file and its header as
    :func:`read_raw_leads` (a file that is not UTF-8 is said to be so, not to lack the column)."""
    path = Path(path)
    header = [name.strip() for name in _checked_file(path)]
    if column not in header:
        raise InputDataError(f"{path}: missing required column(s): {column}")
    try:
        frame = pd.read_csv(path, usecols=lambda name: str(name).strip() == column, dtype=str, encoding="utf-8")
    except UnicodeDecodeError:
        offset, byte = _first_undecodable(path)
        raise InputDataError(f"{path}: not UTF-8 text (byte {byte:#04x} at offset {offset})") from None
    except pd.errors.ParserError as exc:
        raise InputDataError(f"{path}: not a well-formed CSV file ({str(exc).splitlines()[0]})") from None
    return frame.iloc[:, 0]


def _checked_file(path: Path) -> list[str]:
    """The header of a file that exists, is not empty, is text and whose last row is whole."""
    if not path.exists():
        raise InputDataError(f"{path}: no such file")
    if not path.is_file():
        raise InputDataError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: the file is empty (expected a CSV header and lead rows)")
    _check_text(path)
    header = _read_header(path)
    _check_last_row(path, len(header))
    return header


_TAIL_BYTES = 65536


def _check_last_row(path: Path, fields: int) -> None:
    """Refuse a file whose last row has fewer fields than the header: a download or copy cut short.

    pandas fills the missing fields of a short row with blanks, so a truncated file would be
    scored without a word. Only the last row is read (the end of the file), so the check costs
    nothing at a million rows; a last row with a quote is left to the parser (a quoted field may
    span lines).
    """
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if len(lines) < 2 and size <= _TAIL_BYTES:  # the header alone: nothing to check
        return
    last = lines[-1] if lines else ""
    if '"' in last:
        return
    found = len(next(csv.reader([last], skipinitialspace=True), []))
    if found < fields:
        raise InputDataError(
            f"{path}: the last row has {found} field(s) but the header has {fields}: the file looks cut short "
            "(an interrupted download or copy?); nothing was read"
        )


def _check_text(path: Path) -> None:
    """Refuse binary files early: a NUL byte anywhere (the CSV parser cuts a cell at one: a lead id
    would be silently shortened), undecodable bytes in the first 64 KiB."""
    with path.open("rb") as handle:
        head = handle.read(65536)
        offset, chunk = 0, head
        while chunk:  # a memchr per MiB: a million-row export is scanned in a few milliseconds
            if (found := chunk.find(b"\x00")) >= 0:
                raise InputDataError(
                    f"{path}: not a text file (a NUL byte at offset {offset + found}); expected a UTF-8 CSV export"
                )
            offset += len(chunk)
            chunk = handle.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut at the buffer end is fine
            raise InputDataError(
                f"{path}: not UTF-8 text (byte {head[exc.start]:#04x} at offset {exc.start})"
            ) from None


def _read_header(path: Path) -> list[str]:
    """The header's column names, checked before pandas sees them: none empty, none repeated.

    pandas renames empty and repeated names (``Unnamed: 3``, ``app_complete_flag.1``), silently and
    in time that grows with the square of their number.
    """
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        try:
            header = next(csv.reader(handle, skipinitialspace=True), [])
        except csv.Error as exc:
            raise InputDataError(f"{path}: not a well-formed CSV header ({exc})") from None
    if not header:
        raise InputDataError(f"{path}: the first line is empty (expected a CSV header)")
    if len(header) > MAX_COLUMNS:
        raise InputDataError(f"{path}: the header has {len(header):,} columns (a lead export has fewer than 50)")
    names = [name.strip() for name in header]
    empty = [position for position, name in enumerate(names, start=1) if not name]
    if empty:
        hint = " (a comma at the end of the header?)" if empty == [len(names)] else ""
        raise InputDataError(f"{path}: {len(empty)} column(s) of the header have no name, e.g. column {empty[0]}{hint}")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise InputDataError(
                f"{path}: column '{name}' appears twice in the header (columns {seen[name]} and {position})"
            )
        seen[name] = position
    return header


def _first_undecodable(path: Path, chunk_size: int = 1 << 20) -> tuple[int, int]:
    """The file offset and value of the first byte that is not UTF-8 (the file is known to have one)."""
    base, carry = 0, b""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            data = carry + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if chunk and exc.reason == "unexpected end of data":  # a character cut at the chunk's end
                    base, carry = base + exc.start, data[exc.start :]
                    continue
                return base + exc.start, data[exc.start]
            if not chunk:  # pragma: no cover - only called when pandas failed to decode the file
                return base + len(data), 0
            base, carry = base + len(data), b""
