"""The staging schema migrates (issue #32): a database made by the release before migrations, with its
rows, is recognised and upgraded to head when first opened, on SQLite and on PostgreSQL; two openers
at once migrate it once; a table never grows at write time.

The old databases are built here from literal SQL: the DDL the release before migrations created
(its pandas-made tables, read from the `sqlite_master` of a database its `make demo` wrote), and a
`predictions` table from before the rank pool's columns.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters import migrations
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.errors import StagingWriteError
from tests.postgres import postgres_url  # noqa: F401 - a fixture

HEAD = "0002"

# the release before migrations: its tables as its first writes created them ({dt}: the dialect's date-time)
PREVIOUS_RELEASE = [
    "CREATE TABLE predictions (lead_id TEXT, score FLOAT, predicted_label BIGINT, bucket TEXT, top_reasons TEXT, "
    "model_name TEXT, model_version TEXT, scored_at {dt}, role TEXT, production BIGINT, created_date {dt})",
    "CREATE UNIQUE INDEX ux_predictions_key ON predictions (lead_id, model_name, model_version)",
    "CREATE TABLE outcomes (lead_id TEXT, app_complete_flag BIGINT, outcome_at {dt}, received_at {dt})",
    "CREATE UNIQUE INDEX ux_outcomes_key ON outcomes (lead_id)",
    "INSERT INTO predictions VALUES ('L1', 0.91, 1, 'hot', 'careers', 'lead_scoring', '3', "
    "'2021-12-01 10:00:00', 'champion', 1, '2021-11-30 09:00:00')",
    "INSERT INTO predictions VALUES ('L2', 0.12, 0, 'cold', 'syllabus', 'lead_scoring', '3', "
    "'2021-12-01 10:00:00', 'shadow', 0, '2021-11-30 11:30:00')",
    "INSERT INTO outcomes VALUES ('L1', 1, '2021-12-14 08:00:00', '2021-12-15 00:00:00')",
]
# a predictions table written before the pool columns (role, production, created_date) existed
BEFORE_POOL_COLUMNS = [
    "CREATE TABLE predictions (lead_id TEXT, score FLOAT, predicted_label BIGINT, bucket TEXT, top_reasons TEXT, "
    "model_name TEXT, model_version TEXT, scored_at {dt})",
    "CREATE UNIQUE INDEX ux_predictions_key ON predictions (lead_id, model_name, model_version)",
    "INSERT INTO predictions VALUES ('L1', 0.91, 1, 'hot', 'careers', 'lead_scoring', '3', '2021-12-01 10:00:00')",
]
KEYS = ["lead_id", "model_name", "model_version"]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or the test PostgreSQL server emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stage.db'}"
        return
    found: str = request.getfixturevalue("postgres_url")
    _empty(found)
    yield found
    _empty(found)


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in sa.inspect(conn).get_table_names():
            conn.execute(sa.text(f'DROP TABLE "{table}"'))
    engine.dispose()


def _build(url: str, statements: list[str]) -> None:
    """The old database, written with plain SQL (not through StagingDatabase, which would migrate it)."""
    engine = sa.create_engine(url)
    dt = "DATETIME" if engine.dialect.name == "sqlite" else "TIMESTAMP WITHOUT TIME ZONE"
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement.format(dt=dt)))
    engine.dispose()


def _revision(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    return rows


def test_the_packaged_head_is_the_newest_revision_as_alembic_reads_it():
    assert migrations.head() == HEAD  # read from the files' declarations, without importing Alembic
    assert migrations.script_head() == HEAD


def test_a_database_of_the_previous_release_is_upgraded_with_its_rows_intact(url):
    _build(url, PREVIOUS_RELEASE)
    with StagingDatabase(url) as db:
        predictions = db.read_table("predictions").sort_values("lead_id").reset_index(drop=True)
        outcomes = db.read_table("outcomes")
    assert _revision(url) == [HEAD]
    assert predictions["lead_id"].tolist() == ["L1", "L2"]
    assert predictions["score"].tolist() == [0.91, 0.12]
    assert predictions["role"].tolist() == ["champion", "shadow"]
    assert predictions["production"].tolist() == [1, 0]
    assert pd.to_datetime(predictions["created_date"]).tolist() == [
        pd.Timestamp("2021-11-30 09:00"),
        pd.Timestamp("2021-11-30 11:30"),
    ]
    assert (outcomes["lead_id"].tolist(), outcomes["app_complete_flag"].tolist()) == (["L1"], [1])
    assert pd.to_datetime(outcomes["outcome_at"]).tolist() == [pd.Timestamp("2021-12-14 08:00")]


def test_a_predictions_table_from_before_the_pool_columns_gets_them_at_upgrade(url):
    _build(url, BEFORE_POOL_COLUMNS)
    with StagingDatabase(url) as db:
        assert {"role", "production", "created_date"} <= set(db.columns("predictions"))
        old = db.read_table("predictions")
        assert (old["lead_id"].tolist(), old["score"].tolist(), old["bucket"].tolist()) == (["L1"], [0.91], ["hot"])
        assert old[["role", "production", "created_date"]].isna().all().all()  # unknown for the old rows
        fresh = pd.DataFrame(
            {
                "lead_id": ["L9"],
                "score": [0.5],
                "predicted_label": [1],
                "bucket": ["warm"],
                "top_reasons": ["careers"],
                "model_name": ["lead_scoring"],
                "model_version": ["4"],
                "scored_at": pd.to_datetime(["2021-12-02 10:00"]),
                "role": ["champion"],
                "production": [1],
                "created_date": pd.to_datetime(["2021-12-01 09:00"]),
            }
        )
        assert db.merge_rows("k", "predictions", fresh, keys=KEYS) == 1  # this release's rows go in
        assert db.count_rows("predictions") == 2
    assert _revision(url) == [HEAD]


def test_an_older_recorded_revision_is_upgraded_and_a_database_at_head_is_left_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'stage.db'}"
    _build(url, [*BEFORE_POOL_COLUMNS, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"])
    _build(url, ["INSERT INTO alembic_version VALUES ('0001')"])
    with StagingDatabase(url) as db:
        assert "role" in db.columns("predictions")
        assert db.migrate() == migrations.Upgrade(HEAD, HEAD)  # at head: nothing to do
    assert _revision(url) == [HEAD]


def test_a_new_database_is_created_at_head_and_its_tables_by_their_first_write(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with StagingDatabase(url) as db:
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        db.merge_rows("k", "outcomes", pd.DataFrame({"lead_id": ["L1"], "app_complete_flag": [1]}), keys=["lead_id"])
        assert db.count_rows("outcomes") == 1
    assert _revision(url) == [HEAD]


def test_two_openers_at_once_migrate_once(url):
    """Two tasks opening an old database together: one migrates under the lock, the other waits and
    finds it done (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock). Done twice, the second
    ADD COLUMN would fail on the column the first added."""
    _build(url, BEFORE_POOL_COLUMNS)
    start, results, errors = threading.Barrier(2), [], []

    def open_it() -> None:
        start.wait()
        try:
            with StagingDatabase(url) as db:
                results.append(db.count_rows("predictions"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [1, 1]
    assert _revision(url) == [HEAD]  # one row: the version was recorded once


def test_a_merge_with_a_column_no_revision_added_is_refused_in_one_line(tmp_path):
    """The table grows by revisions, never at write time: a release that writes a new column needs one."""
    with StagingDatabase(f"sqlite:///{tmp_path / 'stage.db'}") as db:
        db.merge_rows("k", "outcomes", pd.DataFrame({"lead_id": ["L1"], "app_complete_flag": [1]}), keys=["lead_id"])
        wider = pd.DataFrame({"lead_id": ["L2"], "app_complete_flag": [0], "channel": ["crm"]})
        with pytest.raises(StagingWriteError) as caught:
            db.merge_rows("k", "outcomes", wider, keys=["lead_id"])
        assert str(caught.value) == (
            "table 'outcomes' has no column(s) channel: this release writes them, but no migration revision adds "
            "them (docs/migrations.md); nothing was written"
        )
        assert db.read_table("outcomes")["lead_id"].tolist() == ["L1"]


def test_db_current_tells_the_revision_and_db_upgrade_applies_head(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _build(url, BEFORE_POOL_COLUMNS)
    assert cli("db", "current", "--db", url) == (
        0,
        f"{url}: no recorded revision (made before migrations, or new); head is {HEAD}\n",
        "",
    )
    assert _columns(url) == 8  # `db current` changes nothing
    assert cli("db", "upgrade", "--db", url) == (0, f"upgraded {url} from no recorded revision to {HEAD} (head)\n", "")
    assert _columns(url) == 11
    assert cli("db", "current", "--db", url) == (0, f"{url}: revision {HEAD} (head)\n", "")
    assert cli("db", "upgrade", "--db", url) == (0, f"{url} is at {HEAD} (head): nothing to do\n", "")
    _build(url, ["UPDATE alembic_version SET version_num = '0001'"])
    assert (
        cli("db", "current", "--db", url)[1] == f"{url}: revision 0001; head is {HEAD}: run `lead-scoring db upgrade`\n"
    )


def _columns(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        return len(sa.inspect(engine).get_columns("predictions"))
    finally:
        engine.dispose()


def test_db_revision_writes_the_next_numbered_revision_after_head(tmp_path, monkeypatch, cli):
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)
    migrations.head.cache_clear()
    try:
        status, out, _ = cli("db", "revision", "-m", "predictions: a segment column")
        written = scripts / "versions" / "v0003_predictions_a_segment_column.py"
        assert (status, out) == (0, f"wrote {written}: fill in its upgrade()\n")
        text = written.read_text()
        assert 'revision: str = "0003"' in text and 'down_revision: str | None = "0002"' in text
        assert migrations.head() == "0003" == migrations.script_head()
    finally:
        migrations.head.cache_clear()


def test_serve_without_its_login_is_one_line(home, cli, monkeypatch):
    monkeypatch.delenv("LEAD_SCORING_SCORER_PASSWORD", raising=False)
    monkeypatch.setenv("LEAD_SCORING_SCORER_USERNAME", "scorer")
    assert cli("serve", "--port", "8999") == (
        2,
        "",
        "error: the scorer needs LEAD_SCORING_SCORER_USERNAME and LEAD_SCORING_SCORER_PASSWORD\n",
    )
