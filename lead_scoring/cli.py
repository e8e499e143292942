"""The ``lead-scoring`` command line: the edge where errors become exit status 2 and one plain line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from lead_scoring.errors import LeadScoringError
from lead_scoring.settings import Settings

log = logging.getLogger("lead_scoring")

EXIT_USER_ERROR = 2


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    base: Settings = ctx.obj
    return base.with_overrides(**overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log progress (-v) or debug detail (-vv) to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Score CodePro leads by their propensity to complete an application.

    Settings come from the environment (LEAD_SCORING_HOME, LEAD_SCORING_DB_URL,
    MLFLOW_TRACKING_URI, ...); flags override them.
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    _configure_logging(level)
    ctx.obj = Settings.from_env()


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="Raw lead export (CSV).")
@click.option("--db", "db_url", help="Staging database URL (SQLAlchemy); default: $LEAD_SCORING_DB_URL.")
@click.pass_context
def prepare(ctx: click.Context, input_path: Path, db_url: str | None) -> None:
    """Validate, clean and map a raw lead export into the staging database."""
    from lead_scoring.data_pipeline import prepare as run_prepare

    settings = _settings(ctx, db_url=db_url)
    steps = [
        "validate",
        "loaded_data",
        "city_tier_mapped",
        "categorical_variables_mapped",
        "interactions_mapped",
        "model_input",
        "write",
    ]
    with _progress(steps, "prepare") as advance:
        summary = run_prepare(settings, input_path, on_step=advance)
    click.echo(f"prepared leads into {settings.redacted_db_url()}")
    for line in summary.lines():
        click.echo(f"  {line}")


@cli.command()
@click.option("--rows", type=click.IntRange(min=1), default=20_000, show_default=True, help="How many leads.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="CSV file to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same leads).")
@click.option("--start", default="2021-07-01", show_default=True, help="First creation date.")
@click.option("--end", default="2021-12-31", show_default=True, help="Last creation date.")
@click.option("--no-label", is_flag=True, help="Leave out app_complete_flag (leads to be scored).")
def generate(rows: int, out_path: Path, seed: int, start: str, end: str, no_label: bool) -> None:
    """Write synthetic leads in the raw export schema, shaped like the real CodePro leads."""
    from lead_scoring.generate import generate_leads

    leads = generate_leads(rows, seed=seed, start=start, end=end, with_label=not no_label)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    leads.to_csv(out_path, index=False)
    click.echo(f"wrote {len(leads):,} synthetic leads to {out_path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; user errors exit with status 2 and one line on stderr."""
    try:
        cli.main(args=argv, prog_name="lead-scoring", standalone_mode=False)
    except LeadScoringError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USER_ERROR
    return 0


def _configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("lead_scoring")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@contextmanager
def _progress(steps: list[str], title: str) -> Iterator:
    """A progress bar on stderr (only when it is a terminal) advanced once per named step."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda name: log.debug("%s: %s", title, name)
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task_id = progress.add_task(title, total=len(steps))
        started = False

        def advance(name: str) -> None:
            nonlocal started
            if started:
                progress.advance(task_id)
            started = True
            progress.update(task_id, description=f"{title}: {name}")

        yield advance


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
