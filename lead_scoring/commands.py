"""Commands of the running system, registered on the ``lead-scoring`` group by :mod:`lead_scoring.cli`:
``serve`` (the champion online) and ``db`` (the staging database's schema revision)."""

from __future__ import annotations

import logging

import click

from lead_scoring.settings import Settings

DB_OPTION = click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--refresh",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds between looks at the champion alias.",
)
@click.pass_obj
def serve(settings: Settings, host: str, port: int, refresh: float) -> None:
    """Serve the registry's champion over HTTP behind a login, following the alias as it moves.

    The login is LEAD_SCORING_SCORER_USERNAME / LEAD_SCORING_SCORER_PASSWORD; GET /health is open.
    """
    from lead_scoring.adapters.mlflow.serving import serve as run_server

    root = logging.getLogger("lead_scoring")
    root.setLevel(min(root.level or logging.WARNING, logging.INFO))  # a server's log is its output: what it serves
    run_server(settings, host, port, refresh)


@click.group()
def db() -> None:
    """The staging database's schema: which revision it holds, and upgrading it (docs/migrations.md)."""


@db.command()
@DB_OPTION
@click.pass_obj
def upgrade(settings: Settings, db_url: str | None) -> None:
    """Upgrade the staging database to this release's schema (any command that opens it does too)."""
    from lead_scoring.adapters.staging import StagingDatabase

    settings = settings.with_overrides(db_url=db_url)
    with StagingDatabase(settings.db_url, upgrade_on_open=False) as database:
        done = database.migrate()
        shown = database.redacted_url
    if done.changed:
        click.echo(f"upgraded {shown} from {done.before or 'no recorded revision'} to {done.after} (head)")
    else:
        click.echo(f"{shown} is at {done.after} (head): nothing to do")


@db.command()
@DB_OPTION
@click.pass_obj
def current(settings: Settings, db_url: str | None) -> None:
    """Tell which schema revision the staging database holds, and this release's (head)."""
    from lead_scoring.adapters import migrations
    from lead_scoring.adapters.staging import StagingDatabase

    settings = settings.with_overrides(db_url=db_url)
    with StagingDatabase(settings.db_url, upgrade_on_open=False) as database:
        with database.engine.connect() as conn:
            at = migrations.current(conn)
        shown = database.redacted_url
    head = migrations.head()
    if at == head:
        click.echo(f"{shown}: revision {at} (head)")
    elif at is None:
        click.echo(f"{shown}: no recorded revision (made before migrations, or new); head is {head}")
    else:
        click.echo(f"{shown}: revision {at}; head is {head}: run `lead-scoring db upgrade`")


@db.command()
@click.option("--message", "-m", required=True, help="What the revision changes, in a few words.")
def revision(message: str) -> None:
    """Write a new, empty revision after head into the package's migrations (for developers, in a checkout)."""
    from lead_scoring.adapters import migrations

    click.echo(f"wrote {migrations.new_revision(message)}: fill in its upgrade()")
