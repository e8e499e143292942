"""Bulk writes of a frame into a new table: the codec between pandas columns and the drivers.

pandas' own ``to_sql`` builds a dict per row; here each column is turned into driver-ready values
in one go (COPY text for PostgreSQL, ``executemany`` tuples elsewhere), and SQLite copies columns
an earlier table of the same rows already holds instead of binding them again. The table API that
uses it is :mod:`lead_scoring.adapters.staging`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

_WRITE_CHUNK = 100_000  # rows per executemany / COPY: bounds the memory of the Python values


def columns_to_copy(frame: pd.DataFrame, earlier: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Column -> the earlier table holding the same values in the same rows (the same name, dtype and index)."""
    copied: dict[str, str] = {}
    for table, source in earlier.items():
        if len(source) != len(frame) or not source.index.equals(frame.index):
            continue
        for col in frame.columns:
            if col not in copied and col in source.columns and frame[col].equals(source[col]):
                copied[col] = table
    return copied


def write_with_copies(conn: Connection, frame: pd.DataFrame, table: str, copied: Mapping[str, str]) -> None:
    """Write ``frame`` to a new SQLite table, sending only its new columns and copying the rest.

    Each table written by ``write_frame`` holds the frame's rows in order as rowid 1..n, so rows of
    the new columns and of the earlier tables meet on rowid. Copying inside SQLite skips binding a
    Python value per cell, which is most of the cost of a wide write.
    """
    quote = conn.dialect.identifier_preparer.quote
    fresh = [col for col in frame.columns if col not in copied]
    sources = list(dict.fromkeys(copied.values()))
    alias = {source: f"s{position}" for position, source in enumerate(sources)}
    joins = [f"{quote(sources[0])} AS s0"]
    joins += [f"JOIN {quote(source)} AS {alias[source]} ON {alias[source]}.rowid = s0.rowid" for source in sources[1:]]
    fresh_table = f"{table}__new"
    if fresh:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(fresh_table)}"))
        write_frame(conn, frame[fresh], fresh_table)
        joins.append(f"JOIN {quote(fresh_table)} AS n ON n.rowid = s0.rowid")
    picks = [f"{alias[copied[col]]}.{quote(col)}" if col in copied else f"n.{quote(col)}" for col in frame.columns]
    frame.head(0).to_sql(table, conn, index=False)
    columns = ", ".join(quote(col) for col in frame.columns)
    conn.execute(
        sa.text(
            f"INSERT INTO {quote(table)} ({columns}) SELECT {', '.join(picks)} FROM {' '.join(joins)} ORDER BY s0.rowid"
        )
    )
    if fresh:
        conn.execute(sa.text(f"DROP TABLE {quote(fresh_table)}"))


def write_frame(conn: Connection, frame: pd.DataFrame, table: str, if_exists: str = "fail") -> None:
    """Bulk-insert a frame into ``table`` (created from the frame's dtypes when absent).

    pandas creates the table (so the column types are its own) and the rows go in through the
    driver's bulk path, inside the caller's transaction: PostgreSQL (psycopg2) gets one ``COPY ...
    FROM STDIN`` per chunk; other drivers get ``executemany`` of tuples. pandas' own ``to_sql``
    builds a dict per row and is several times slower.
    """
    frame.head(0).to_sql(table, conn, if_exists=if_exists, index=False)
    if frame.empty:
        return
    if conn.dialect.driver == "psycopg2":
        _copy_rows(conn, frame, table)
        return
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:  # pragma: no cover - drivers with named parameters
        frame.to_sql(table, conn, if_exists="append", index=False, chunksize=_WRITE_CHUNK)
        return
    # SQLite stores a bound NaN as NULL, and binds floats much faster than None (which goes through
    # the sqlite3 module's adapter look-up), so missing values can stay NaN there.
    missing = _NAN if conn.dialect.name == "sqlite" else None
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in frame.columns)
    sql = f"INSERT INTO {quote(table)} ({columns}) VALUES ({', '.join([marker] * frame.shape[1])})"
    cursor = _driver(conn).cursor()  # the connection's DBAPI transaction
    try:
        for chunk in _chunks(frame):
            # an iterator of row tuples: each is freed once bound, none pile up for the garbage collector
            cursor.executemany(sql, zip(*(_python_values(chunk[c], missing) for c in chunk.columns), strict=True))
    finally:
        cursor.close()


_NAN = float("nan")


def _chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), _WRITE_CHUNK):
        yield frame.iloc[start : start + _WRITE_CHUNK]


def _python_values(column: pd.Series, missing: float | None) -> list[Any]:
    """A column as driver-ready Python values: ``missing`` for missing, text for date-times."""
    if column.dtype == np.float64 and missing is _NAN:
        return column.tolist()  # NaN is already the missing marker
    if column.dtype in (np.int64, np.bool_):
        return column.tolist()
    if _naive_datetime(column):
        return _datetime_text(column, missing).tolist()
    if pd.api.types.is_datetime64_any_dtype(column):  # time-zone aware: rare and small
        return column.dt.strftime(_DATETIME_FORMAT).astype(object).where(column.notna(), missing).tolist()
    return column.to_numpy(dtype=object, na_value=missing).tolist()


_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how pandas' to_sql writes a date-time to SQLite


def _naive_datetime(column: pd.Series) -> bool:
    """A date-time column without a time zone, in any unit: ``pd.Timestamp(datetime)`` is in
    microseconds and ``pd.Timestamp("2021-12-01")`` in seconds, not only pandas' nanoseconds."""
    return isinstance(column.dtype, np.dtype) and column.dtype.kind == "M"


def _datetime_text(column: pd.Series, missing: object) -> NDArray[Any]:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` per value (``missing`` for NaT), 3x faster than ``dt.strftime``."""
    text = np.datetime_as_string(column.to_numpy().astype("datetime64[us]"), unit="us")
    text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")  # 'YYYY-MM-DDTHH...' -> 'YYYY-MM-DD HH...'
    values = text.astype(object)
    values[column.isna().to_numpy()] = missing
    return values


# -- PostgreSQL: COPY in its text format -------------------------------------------------------------

_COPY_NULL = "\\N"
_COPY_SPECIALS = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_rows(conn: Connection, frame: pd.DataFrame, table: str) -> None:
    """``COPY table FROM STDIN`` (text format), one chunk at a time, in the caller's transaction."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in frame.columns)
    sql = f"COPY {quote(table)} ({columns}) FROM STDIN"
    with _driver(conn).cursor() as cursor:
        for chunk in _chunks(frame):
            fields = [_copy_fields(chunk[c]) for c in chunk.columns]
            text = "".join("\t".join(row) + "\n" for row in zip(*fields, strict=True))
            cursor.copy_expert(sql, io.StringIO(text))


def _copy_fields(column: pd.Series) -> list[str]:
    """A column as COPY text fields: ``\\N`` for missing, backslash, tab and line breaks escaped."""
    if _naive_datetime(column):
        return _datetime_text(column, _COPY_NULL).tolist()
    if pd.api.types.is_datetime64_any_dtype(column):  # time-zone aware: with its offset
        return column.dt.strftime(_DATETIME_FORMAT + "%z").where(column.notna(), _COPY_NULL).tolist()
    present = column.notna()
    # object dtype: pandas 3's str dtype keeps a missing cell missing through astype(str)
    text = column.where(present, _COPY_NULL).astype(str).astype(object)
    if not pd.api.types.is_numeric_dtype(column) and text[present].str.contains(_COPY_SPECIALS).any():
        text = text.where(~present, text.map(lambda value: value.translate(_COPY_ESCAPES)))
    return text.tolist()


def _driver(conn: Connection) -> Any:
    """The DBAPI connection under SQLAlchemy's, in its open transaction."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the database connection is closed")
    return driver
