"""The staging database: SQLite by default, any SQLAlchemy database in production.

Tables of one run are written to scratch tables first and published together in one
transaction, so readers see either the previous good tables or the new ones, never a mix.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from lead_scoring.adapters import bulk, migrations
from lead_scoring.adapters.migrations import Upgrade
from lead_scoring.errors import (
    ConfigurationError,
    LeadScoringError,
    MissingTableError,
    StagingBusyError,
    StagingWriteError,
)
from lead_scoring.schema import CREATED_DATE
from lead_scoring.settings import redact_url

log = logging.getLogger(__name__)

_SCRATCH_PREFIX = "_scratch_"
SQLITE_BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for another's write lock (URL: ?timeout=S)
_WRITE = "lead_scoring_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


def run_key_for(identifier: str) -> str:
    """A short, identifier-safe key for one pipeline run (an Airflow run id, or a CLI invocation)."""
    return hashlib.sha1(identifier.encode("utf-8")).hexdigest()[:12]


class StagingDatabase:
    """Reads and writes whole tables of the staging database."""

    def __init__(self, url: str, *, upgrade_on_open: bool = True) -> None:
        self.url = url
        self.upgrade_on_open = upgrade_on_open  # False: `db current` tells what the database holds as it is
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = _create_engine(self.url)
            try:  # once, up front: an unreachable server is one plain line, not a traceback mid-step
                with engine.connect():
                    pass
            except DBAPIError as exc:
                engine.dispose()
                reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
                raise ConfigurationError(f"cannot open the staging database {self.redacted_url}: {reason}") from None
            self._engine = engine
            try:
                if self.upgrade_on_open:
                    self.migrate()
            except BaseException:
                self.dispose()
                raise
        return self._engine

    def migrate(self) -> Upgrade:
        """Bring the schema to this release's revision, one migrating at a time: run by the first
        use of :attr:`engine` (see :func:`lead_scoring.adapters.migrations.ensure_head`)."""
        return migrations.ensure_head(self.engine, self.writing, self.redacted_url)

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

    def columns(self, name: str) -> list[str]:
        """The column names of table ``name`` (it must exist)."""
        return [column["name"] for column in sa.inspect(self.engine).get_columns(name)]

    def query(self, sql: str, **params: object) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn, params=params)

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)  # the user-info's password and a `?password=` query

    # -- writing whole tables atomically -----------------------------------------------------------
    def replace_tables(self, frames: Mapping[str, pd.DataFrame], run_key: str) -> None:
        """Write every frame and publish them all at once; on failure, the old tables stay.

        One transaction: a write that fails half-way (the disk full, the file read-only) leaves no
        scratch table behind either, as dropping one would need the space that ran out.
        """
        try:
            with self.writing() as conn:
                written: dict[str, pd.DataFrame] = {}
                for name, frame in frames.items():
                    self._write_scratch_in(conn, run_key, name, frame, written)
                    written[self.scratch_name(run_key, name)] = frame
                self._publish_in(conn, run_key, list(frames))
        except BaseException:
            try:
                self.drop_scratch(run_key)  # any left by an earlier attempt with this key
            except LeadScoringError as exc:
                log.warning("could not drop this run's scratch tables: %s", exc)
            raise
        self.drop_scratch(run_key)

    def write_scratch(
        self, run_key: str, name: str, frame: pd.DataFrame, earlier: Mapping[str, pd.DataFrame] | None = None
    ) -> str:
        """Write ``frame`` as this run's private copy of table ``name``; returns the scratch table name.

        ``earlier`` maps tables this run has just written to the frames written there: a column
        equal to one of theirs is copied inside the database instead of sent again (SQLite only).
        """
        with self.writing() as conn:
            return self._write_scratch_in(conn, run_key, name, frame, earlier or {})

    def _write_scratch_in(
        self, conn: Connection, run_key: str, name: str, frame: pd.DataFrame, earlier: Mapping[str, pd.DataFrame]
    ) -> str:
        scratch = self.scratch_name(run_key, name)
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(scratch)}"))
        copied = bulk.columns_to_copy(frame, earlier) if conn.dialect.name == "sqlite" else {}
        if copied:
            bulk.write_with_copies(conn, frame, scratch, copied)
        else:
            bulk.write_frame(conn, frame, scratch)
        log.debug("wrote %d rows to %s", len(frame), scratch)
        return scratch

    def read_scratch(self, run_key: str, name: str) -> pd.DataFrame:
        scratch = self.scratch_name(run_key, name)
        if not self.has_table(scratch):
            raise MissingTableError(f"this run's '{name}' table is missing ({scratch}): rerun the step that writes it")
        return self.read_table(scratch)

    def publish(self, run_key: str, names: Iterable[str]) -> None:
        """Swap this run's scratch tables in for the published ones, in one transaction."""
        with self.writing() as conn:
            self._publish_in(conn, run_key, list(names))

    def _publish_in(self, conn: Connection, run_key: str, names: list[str]) -> None:
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
    def merge_rows(
        self, run_key: str, table: str, frame: pd.DataFrame, keys: list[str], keep: Iterable[str] = ()
    ) -> int:
        """Replace the rows of ``table`` that share ``keys`` with ``frame``'s, and add the new ones.

        The rows go in in one transaction: a rerun replaces its own rows and never duplicates
        them; rows under other keys (other leads, or the same leads scored by another model
        version) stay. Columns in ``keep`` are written for new rows only (e.g. when a lead was
        first scored). A table written whole by another step (``model_input``) gets the unique
        index on ``keys`` here. Runs of different days may merge into the same table at once (on
        PostgreSQL): see :meth:`_ensure_table`.
        """
        kept = set(keep)
        if self.engine.dialect.name == "sqlite":
            # one transaction, under the write lock: a publish cannot replace the table (and its index)
            # in between, and a write that fails (out of space, read-only) leaves no scratch table behind
            with self.writing() as conn:
                scratch = self._write_scratch_in(conn, run_key, table, frame, {})
                self._ensure_table_in(conn, table, frame, keys)
                self._upsert_in(conn, table, scratch, frame, keys, kept)
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(scratch)}"))
            return len(frame)
        scratch = self.write_scratch(run_key, table, frame)
        try:
            self._ensure_table(table, frame, keys)
            with self.writing() as conn:
                self._upsert_in(conn, table, scratch, frame, keys, kept)
        finally:
            with self.writing() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self._quote(scratch)}"))
        return len(frame)

    def _upsert_in(
        self, conn: Connection, table: str, scratch: str, frame: pd.DataFrame, keys: list[str], kept: set[str]
    ) -> None:
        # one upsert through the table's unique index, in key order (the index then grows at its end):
        # 3x faster than DELETE + INSERT at a million rows. (A correlated EXISTS, used before that,
        # scanned the staged rows once per row of the table: hours.)
        target, staged = self._quote(table), self._quote(scratch)
        columns = ", ".join(self._quote(c) for c in frame.columns)
        key_list = ", ".join(self._quote(k) for k in keys)
        others = [self._quote(c) for c in frame.columns if c not in keys and c not in kept]
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others) if others else "DO NOTHING"
        conn.execute(
            sa.text(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staged} WHERE true "
                f"ORDER BY {key_list} ON CONFLICT ({key_list}) {action}"
            )
        )

    def delete_rows(self, table: str, key: str, values: list[str]) -> None:
        """Delete the rows of ``table`` whose ``key`` is one of ``values``, in one transaction."""
        statement = sa.text(f"DELETE FROM {self._quote(table)} WHERE {self._quote(key)} IN :values").bindparams(
            sa.bindparam("values", expanding=True)
        )
        with self.writing() as conn:
            for start in range(0, len(values), 500):  # SQLite's limit on bound parameters
                conn.execute(statement, {"values": values[start : start + 500]})

    def _ensure_table(self, table: str, frame: pd.DataFrame, keys: list[str]) -> None:
        """Create ``table`` (from ``frame``'s columns) and its unique index on ``keys`` if missing,
        in a transaction of its own, committed before any row goes in.

        Concurrent merges (a backfill's days on several workers) would otherwise collide twice on
        PostgreSQL: two runs finding no table both CREATE it, and the second fails on the catalog's
        unique index until its retry; and ``CREATE INDEX IF NOT EXISTS`` takes a SHARE lock on the
        table even when the index exists, so two runs holding it both wait for the other's to
        insert: a deadlock. Here one transaction-scoped advisory lock per table makes the check and
        the creation one step at a time, and an existing index is not created again, so the
        upserts (ROW EXCLUSIVE, which do not conflict) run side by side. SQLite's write lock
        already serialises writers.
        """
        with self.writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(table)})
            self._ensure_table_in(conn, table, frame, keys)

    def _ensure_table_in(self, conn: Connection, table: str, frame: pd.DataFrame, keys: list[str]) -> None:
        index = f"ux_{table}_key"
        inspector = sa.inspect(conn)
        if not inspector.has_table(table):
            bulk.write_frame(conn, frame.head(0), table)
        else:
            _refuse_missing_columns(table, frame, {c["name"] for c in inspector.get_columns(table)})
            if any(found["name"] == index for found in inspector.get_indexes(table)):
                return
        key_list = ", ".join(self._quote(k) for k in keys)
        conn.execute(
            sa.text(f"CREATE UNIQUE INDEX IF NOT EXISTS {self._quote(index)} ON {self._quote(table)} ({key_list})")
        )

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``), so a
        second writer waits for the busy timeout instead of failing at once when it upgrades a read
        (a deferred transaction cannot wait); a lock held longer is :class:`StagingBusyError`."""
        try:
            with self.engine.execution_options(**{_WRITE: True}).begin() as conn:
                yield conn
        except (OperationalError, sqlite3.OperationalError) as exc:  # the bulk writer calls the driver itself
            orig = exc.orig if isinstance(exc, OperationalError) else exc
            if not _is_locked(orig):
                reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
                raise StagingWriteError(
                    f"the staging database {self.redacted_url} refused the write ({reason}): is it read-only, "
                    "or out of space?; nothing was published"
                ) from None
            given = self.engine.url.query.get("timeout")
            waited = float(given) if isinstance(given, str) else SQLITE_BUSY_TIMEOUT
            raise StagingBusyError(
                f"the staging database {self.redacted_url} is locked by another run (waited {waited:g} s "
                "for its write lock); nothing was written: run again when it has finished"
            ) from None

    @staticmethod
    def scratch_name(run_key: str, name: str) -> str:
        return f"{_SCRATCH_PREFIX}{run_key}_{name}"

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)


def _refuse_missing_columns(table: str, frame: pd.DataFrame, existing: set[str]) -> None:
    """A merge whose rows have columns the table lacks: the schema changed without a migration
    revision (docs/migrations.md). The table grows by revisions, never at write time."""
    missing = [c for c in frame.columns if c not in existing]
    if missing:
        raise StagingWriteError(
            f"table '{table}' has no column(s) {', '.join(missing)}: this release writes them, but no migration "
            "revision adds them (docs/migrations.md); nothing was written"
        )


def _lock_key(table: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of creating ``table``."""
    digest = hashlib.sha1(f"lead_scoring.adapters.staging:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"not a database URL: {redact_url(url)!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _check_sqlite_path(Path(database).expanduser(), parsed.render_as_string(hide_password=True))
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
        raise ConfigurationError(f"cannot use database {redact_url(url)}: {exc}") from None


def _check_sqlite_path(path: Path, shown: str) -> None:
    """A SQLite file can be created at ``path``: not a folder, and its folder can be made."""
    if path.is_dir():
        raise ConfigurationError(f"staging database {shown}: {path} is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder should be, no permission, ...
        blocking = next((p for p in path.parents if p.exists()), path.parent)
        why = f"{blocking} is a file" if blocking.is_file() else exc.strerror
        raise ConfigurationError(f"staging database {shown}: cannot create its folder {path.parent} ({why})") from None


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _is_locked(orig: BaseException | None) -> bool:
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly, see _create_engine
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (Airflow UI, scoring) never block a writer
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError:  # pragma: no cover - read-only media
        pass
    finally:
        cursor.close()
