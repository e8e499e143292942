"""The staging database: SQLite by default, any SQLAlchemy database in production.

Tables of one run are written to scratch tables first and published together in one
transaction, so readers see either the previous good tables or the new ones, never a mix.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from lead_scoring.errors import ConfigurationError, MissingTableError, StagingBusyError
from lead_scoring.schema import CREATED_DATE

log = logging.getLogger(__name__)

_SCRATCH_PREFIX = "_scratch_"
_WRITE_CHUNK = 100_000  # rows per executemany / COPY: bounds the memory of the Python values
SQLITE_BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for another's write lock (URL: ?timeout=S)
_WRITE = "lead_scoring_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


def run_key_for(identifier: str) -> str:
    """A short, identifier-safe key for one pipeline run (an Airflow run id, or a CLI invocation)."""
    return hashlib.sha1(identifier.encode("utf-8")).hexdigest()[:12]


class StagingDatabase:
    """Reads and writes whole tables of the staging database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _create_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> StagingDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()

    # -- reading ---------------------------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table as a DataFrame; dates parsed. Raises :class:`MissingTableError`."""
        if not self.has_table(name):
            raise MissingTableError(
                f"table '{name}' does not exist in {self.redacted_url}: run `lead-scoring prepare` first"
            )
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # pandas reads a plain sqlite3 connection 2-3x faster than through SQLAlchemy's reflection
                selected = ", ".join(self._quote(c) for c in columns) if columns else "*"
                frame = pd.read_sql_query(
                    f"SELECT {selected} FROM {self._quote(name)}", conn.connection.driver_connection
                )
            else:
                frame = pd.read_sql_table(name, conn, columns=columns)
        if CREATED_DATE in frame.columns:
            frame[CREATED_DATE] = pd.to_datetime(frame[CREATED_DATE])
        return frame

    def count_rows(self, name: str) -> int | None:
        """How many rows table ``name`` has; ``None`` when it does not exist."""
        if not self.has_table(name):
            return None
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {self._quote(name)}")).scalar_one())

    def query(self, sql: str, **params: object) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn, params=params)

    @property
    def redacted_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    # -- writing whole tables atomically -----------------------------------------------------------
    def replace_tables(self, frames: Mapping[str, pd.DataFrame], run_key: str) -> None:
        """Write every frame and publish them all at once; on failure, the old tables stay."""
        try:
            written: dict[str, pd.DataFrame] = {}
            for name, frame in frames.items():
                self.write_scratch(run_key, name, frame, earlier=written)
                written[self.scratch_name(run_key, name)] = frame
            self.publish(run_key, list(frames))
        finally:
            self.drop_scratch(run_key)

    def write_scratch(
        self, run_key: str, name: str, frame: pd.DataFrame, earlier: Mapping[str, pd.DataFrame] | None = None
    ) -> str:
        """Write ``frame`` as this run's private copy of table ``name``; returns the scratch table name.

        ``earlier`` maps tables this run has just written to the frames written there: a column
        equal to one of theirs is copied inside the database instead of sent again (SQLite only).
        """
        scratch = self.scratch_name(run_key, name)
        with self.writing() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(scratch)}"))
            copied = _columns_to_copy(frame, earlier or {}) if conn.dialect.name == "sqlite" else {}
            if copied:
                _write_with_copies(conn, frame, scratch, copied)
            else:
                write_frame(conn, frame, scratch)
        log.debug("wrote %d rows to %s", len(frame), scratch)
        return scratch

    def read_scratch(self, run_key: str, name: str) -> pd.DataFrame:
        scratch = self.scratch_name(run_key, name)
        if not self.has_table(scratch):
            raise MissingTableError(f"this run's '{name}' table is missing ({scratch}): rerun the step that writes it")
        return self.read_table(scratch)

    def publish(self, run_key: str, names: Iterable[str]) -> None:
        """Swap this run's scratch tables in for the published ones, in one transaction."""
        names = list(names)
        with self.writing() as conn:
            for name in names:
                scratch = self.scratch_name(run_key, name)
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(name)}"))
                conn.execute(sa.text(f"ALTER TABLE {self._quote(scratch)} RENAME TO {self._quote(name)}"))
        log.info("published %s", ", ".join(names))

    def drop_scratch(self, run_key: str) -> None:
        """Remove what is left of this run's scratch tables."""
        prefix = f"{_SCRATCH_PREFIX}{run_key}_"
        leftovers = [t for t in sa.inspect(self.engine).get_table_names() if t.startswith(prefix)]
        if leftovers:
            with self.writing() as conn:
                for table in leftovers:
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(table)}"))

    # -- merging rows into a long-lived table ------------------------------------------------------
    def merge_rows(self, run_key: str, table: str, frame: pd.DataFrame, keys: list[str]) -> int:
        """Replace the rows of ``table`` that share ``keys`` with ``frame``'s, and add the new ones.

        One transaction: a rerun replaces its own rows and never duplicates them; rows under
        other keys (other leads, or the same leads scored by another model version) stay.
        """
        scratch = self.write_scratch(run_key, table, frame)
        target, staged = self._quote(table), self._quote(scratch)
        columns = ", ".join(self._quote(c) for c in frame.columns)
        key_list = ", ".join(self._quote(k) for k in keys)
        try:
            with self.writing() as conn:
                if not sa.inspect(conn).has_table(table):
                    write_frame(conn, frame.head(0), table)
                    index = self._quote(f"ux_{table}_key")
                    conn.execute(sa.text(f"CREATE UNIQUE INDEX {index} ON {target} ({key_list})"))
                # one upsert through the table's unique index, in key order (the index then grows at
                # its end): 3x faster than DELETE + INSERT at a million rows. (A correlated EXISTS,
                # used before that, scanned the staged rows once per row of the table: hours.)
                others = [self._quote(c) for c in frame.columns if c not in keys]
                action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others) if others else "DO NOTHING"
                conn.execute(
                    sa.text(
                        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staged} WHERE true "
                        f"ORDER BY {key_list} ON CONFLICT ({key_list}) {action}"
                    )
                )
        finally:
            with self.writing() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {staged}"))
        return len(frame)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``), so a
        second writer waits for the busy timeout instead of failing at once when it upgrades a read
        (a deferred transaction cannot wait); a lock held longer is :class:`StagingBusyError`."""
        try:
            with self.engine.execution_options(**{_WRITE: True}).begin() as conn:
                yield conn
        except OperationalError as exc:
            if not _is_locked(exc):
                raise
            waited = self.engine.url.query.get("timeout", SQLITE_BUSY_TIMEOUT)
            raise StagingBusyError(
                f"the staging database {self.redacted_url} is locked by another run (waited {float(waited):g} s "
                "for its write lock); nothing was written: run again when it has finished"
            ) from None

    @staticmethod
    def scratch_name(run_key: str, name: str) -> str:
        return f"{_SCRATCH_PREFIX}{run_key}_{name}"

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)


def _columns_to_copy(frame: pd.DataFrame, earlier: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Column -> the earlier table holding the same values in the same rows (the same name, dtype and index)."""
    copied: dict[str, str] = {}
    for table, source in earlier.items():
        if len(source) != len(frame) or not source.index.equals(frame.index):
            continue
        for col in frame.columns:
            if col not in copied and col in source.columns and frame[col].equals(source[col]):
                copied[col] = table
    return copied


def _write_with_copies(conn: Connection, frame: pd.DataFrame, table: str, copied: Mapping[str, str]) -> None:
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
    cursor = conn.connection.driver_connection.cursor()  # the connection's DBAPI transaction
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


def _python_values(column: pd.Series, missing: float | None) -> list:
    """A column as driver-ready Python values: ``missing`` for missing, text for date-times."""
    if column.dtype == np.float64 and missing is _NAN:
        return column.tolist()  # NaN is already the missing marker
    if column.dtype in (np.int64, np.bool_):
        return column.tolist()
    if column.dtype == np.dtype("datetime64[ns]"):
        return _datetime_text(column, missing).tolist()
    if pd.api.types.is_datetime64_any_dtype(column):  # time-zone aware: rare and small
        return column.dt.strftime(_DATETIME_FORMAT).astype(object).where(column.notna(), missing).tolist()
    return column.to_numpy(dtype=object, na_value=missing).tolist()


_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how pandas' to_sql writes a date-time to SQLite


def _datetime_text(column: pd.Series, missing: object) -> np.ndarray:
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
    with conn.connection.driver_connection.cursor() as cursor:
        for chunk in _chunks(frame):
            fields = [_copy_fields(chunk[c]) for c in chunk.columns]
            text = "".join("\t".join(row) + "\n" for row in zip(*fields, strict=True))
            cursor.copy_expert(sql, io.StringIO(text))


def _copy_fields(column: pd.Series) -> list[str]:
    """A column as COPY text fields: ``\\N`` for missing, backslash, tab and line breaks escaped."""
    if column.dtype == np.dtype("datetime64[ns]"):
        return _datetime_text(column, _COPY_NULL).tolist()
    if pd.api.types.is_datetime64_any_dtype(column):  # time-zone aware: with its offset
        return column.dt.strftime(_DATETIME_FORMAT + "%z").where(column.notna(), _COPY_NULL).tolist()
    text = column.astype(str)
    if not pd.api.types.is_numeric_dtype(column) and text.str.contains(_COPY_SPECIALS).any():
        text = text.map(lambda value: value.translate(_COPY_ESCAPES))
    return text.where(column.notna(), _COPY_NULL).tolist()


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # the busy timeout: ?timeout=S in the URL, else SQLITE_BUSY_TIMEOUT
        connect_args = {} if "timeout" in parsed.query else {"timeout": SQLITE_BUSY_TIMEOUT}
        engine = sa.create_engine(parsed, connect_args=connect_args)
        sa.event.listen(engine, "connect", _sqlite_connect)
        # pysqlite opens transactions only before DML, so DDL would autocommit; BEGIN ourselves to
        # make DROP + RENAME of a publish one transaction (SQLAlchemy's documented recipe). Writers
        # take the write lock at BEGIN, where SQLite waits for the busy timeout.
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, SQLAlchemyError) as exc:
        raise ConfigurationError(f"cannot use database {parsed.render_as_string()}: {exc}") from None


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _is_locked(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


def _sqlite_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI callback
    dbapi_connection.isolation_level = None  # transactions are begun explicitly, see _create_engine
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (Airflow UI, scoring) never block a writer
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:  # pragma: no cover - read-only media
        pass
    finally:
        cursor.close()
