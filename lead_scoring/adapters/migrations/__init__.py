"""The staging database's schema revisions: Alembic migrations shipped inside the package.

The scripts live beside this file (``env.py``, ``script.py.mako``, ``versions/``); no
``alembic.ini`` is needed, the configuration is built here. :class:`~lead_scoring.adapters.staging.StagingDatabase`
brings a database to :func:`head` when it first opens it, under the write lock
(:meth:`~lead_scoring.adapters.staging.StagingDatabase.migrate`); ``lead-scoring db upgrade`` and
``lead-scoring db current`` do it and tell it by hand. Adding a revision: docs/migrations.md.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"  # Alembic's default: `alembic` itself finds it there too


@dataclass(frozen=True)
class Upgrade:
    """What an upgrade did: the revision the database held (``None``: none recorded) and holds now."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged scripts; ``connection`` is the one env.py migrates."""
    from alembic.config import Config

    cfg = Config(stdout=io.StringIO())  # its progress lines are not the command's output
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head() -> str:
    """The newest revision this release knows: the schema its code reads and writes.

    Read from the revision files' own declarations (``revision`` and ``down_revision``, as the
    template writes them): importing Alembic would cost every command and task about a fifth of a
    second just to find its database at head. A test holds this equal to Alembic's answer
    (:func:`script_head`), which is also the fallback when the files do not name exactly one head.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (SCRIPTS / "versions").glob("v*.py"):
        text = path.read_text(encoding="utf-8")
        found, parent = _REVISION.search(text), _DOWN_REVISION.search(text)
        if found is None or parent is None:
            return script_head()
        revisions.add(found.group(1))
        parents.update(p for p in [parent.group(1)] if p)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else script_head()


_REVISION = re.compile(r'^revision: str = "(\w+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision: str \| None = (?:"(\w+)"|None)$', re.MULTILINE)


def script_head() -> str:
    """Alembic's own head of the packaged scripts (it raises when they have several)."""
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(config()).get_current_head()
    if found is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError(f"no migration revision under {SCRIPTS}")
    return found


def current(connection: Connection) -> str | None:
    """The revision a database holds; ``None`` for one made before migrations (or a new, empty one)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608


def upgrade(connection: Connection) -> Upgrade:
    """Bring the database of ``connection`` to :func:`head` inside the caller's transaction.

    The caller holds the lock that makes it the only one migrating (SQLite's write lock, a
    PostgreSQL advisory lock) and commits: the revision is read again here, under that lock, so a
    second opener that waited finds the work done and does nothing.
    """
    from alembic import command

    before = current(connection)
    if before != head():
        command.upgrade(config(connection), "head")
    return Upgrade(before, head())


def ensure_head(engine: Engine, writing: Callable[[], AbstractContextManager[Connection]], shown: str) -> Upgrade:
    """Bring the database to :func:`head` unless it is there; ``writing`` opens its write transaction.

    A database at head costs one read, without a lock. Otherwise one task migrates at a time: the
    revision is read again inside the write transaction, which holds SQLite's write lock
    (``BEGIN IMMEDIATE``) or, on PostgreSQL, a transaction-scoped advisory lock (its DDL is
    transactional); the revisions and the version row commit together or not at all, and a task
    that waited finds the work done.
    """
    with engine.connect() as conn:
        at = current(conn)
    if at == head():
        return Upgrade(at, at)
    with writing() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        done = upgrade(conn)
    if done.changed:
        log.info("staging database %s: schema %s -> %s", shown, done.before or "unrecorded", done.after)
    return done


# the PostgreSQL advisory lock key (a signed 64-bit integer) of migrating the staging schema
_LOCK_KEY = int.from_bytes(hashlib.sha1(b"lead_scoring.adapters.migrations").digest()[:8], "big", signed=True)


def new_revision(message: str) -> Path:
    """A new revision file after head, numbered on (0003, 0004, ...), for a developer to fill in."""
    from alembic import command

    cfg = config()
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")  # a module name mypy and ruff accept
    number = f"{int(head()) + 1:04d}"
    with contextlib.redirect_stdout(io.StringIO()):  # Alembic's "Generating ..." line
        script = command.revision(cfg, message=message, rev_id=number)
    head.cache_clear()
    path = getattr(script, "path", None)
    return Path(path) if path else SCRIPTS / "versions"
