"""A throwaway PostgreSQL server for tests, from the system's packages, on loopback.

Skips (with the reason) where the server binaries are not installed; CI installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(args: list[str]) -> list[str]:
    """Postgres refuses to run as root: run it as the `postgres` account when we are root."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bin_dir = _server_bin()
    if bin_dir is None:
        skip_or_fail("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root without a `postgres` account to run the server as")
    root = Path(tempfile.mkdtemp(prefix="lead-scoring-pg-"))
    root.chmod(0o755)  # the postgres account must reach its data directory
    data, sockets = root / "data", root / "run"
    for path in (data, sockets):
        path.mkdir()
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(sockets / "log"), "-w", "-o", options, "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def staging_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """An empty staging database, once on SQLite and once on the PostgreSQL server above."""
    from lead_scoring.adapters.staging import StagingDatabase

    if request.param == "sqlite":
        database = StagingDatabase(f"sqlite:///{tmp_path / 'stage.db'}")
    else:
        database = StagingDatabase(request.getfixturevalue("postgres_url"))
        drop_all_tables(database)
    yield database
    if request.param == "postgres":
        drop_all_tables(database)
    database.dispose()


def drop_all_tables(database) -> None:  # noqa: ANN001 - a StagingDatabase
    import sqlalchemy as sa

    with database.engine.begin() as conn:
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f'DROP TABLE "{table}"'))
