"""Files for people: CSV exports that are safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a
carriage return) as a formula: a lead id of ``=HYPERLINK(...)`` or ``+cmd|...`` in an export sales
opens would be live. OWASP's rule for CSV injection: prefix such cells with a single quote, which
the spreadsheet shows as text. Only text cells are escaped; numbers (``-0.5`` included) stay numbers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from lead_scoring.errors import InvalidArgumentError

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) never start a formula (pure)."""
    escaped: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue  # numbers, dates and booleans are written as values, never as formulas
        risky = _starts_a_formula(column)
        if risky.any():
            escaped[name] = column.mask(risky, "'" + column[risky].astype(str))
    safe = frame.assign(**escaped) if escaped else frame.copy()
    safe.columns = [_escape(str(name)) for name in frame.columns]
    return safe


def from_spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as it was before :func:`spreadsheet_safe` (a CSV this project wrote, read back)."""
    restored: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            quoted = column.str.startswith(tuple("'" + start for start in FORMULA_STARTS)).fillna(False).astype(bool)
            if quoted.any():
                restored[str(name)] = column.mask(quoted, column[quoted].str.slice(1))
    return frame.assign(**restored) if restored else frame


def check_output_path(path: str | Path, option: str = "--output") -> Path:
    """Refuse a place a CSV cannot be written to, before any work (a folder, a folder under a file,
    a folder that cannot be written to); :class:`InvalidArgumentError` in one line."""
    path = Path(path)
    if path.is_dir():
        raise InvalidArgumentError(f"{option} {path} is a folder: give a file name, e.g. {path / 'scores.csv'}")
    existing = next((parent for parent in path.parents if parent.exists()), Path("."))
    if not existing.is_dir():
        raise InvalidArgumentError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"{option} {path}: no permission to write in {existing}")
    return path


def write_spreadsheet_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``spreadsheet_safe(frame)`` as CSV (no index), whole or not at all: a temporary file
    beside ``path`` is renamed over it once written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            spreadsheet_safe(frame).to_csv(out, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _starts_a_formula(column: pd.Series) -> pd.Series:
    """True for the text cells of ``column`` that a spreadsheet would run (other cells: False)."""
    try:
        starts = column.str.startswith(FORMULA_STARTS)  # NaN for cells that are not text
    except AttributeError:  # an object column without a single text cell
        return pd.Series(False, index=column.index)
    return starts.fillna(False).astype(bool)


def _escape(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text
