"""The ``lead-scoring`` command line: the edge where errors become exit status 2 and one plain line."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lead_scoring import commands, render
from lead_scoring.console import configure_logging as _configure_logging
from lead_scoring.console import printable
from lead_scoring.console import progress as _progress
from lead_scoring.errors import LeadScoringError
from lead_scoring.settings import Settings, redact_text

if TYPE_CHECKING:
    pass

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
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Publish even if the export has far fewer leads than model_input now (LEAD_SCORING_SHRINK_LIMIT).",
)
@click.option(
    "--allow-unlabelled",
    is_flag=True,
    help="Publish an export without app_complete_flag (it replaces the labelled model_input).",
)
@click.pass_context
def prepare(
    ctx: click.Context, input_path: Path, db_url: str | None, allow_shrink: bool, allow_unlabelled: bool
) -> None:
    """Validate, clean and map a raw lead export into the staging database."""
    from lead_scoring.pipelines.data import prepare as run_prepare
    from lead_scoring.schema import DATA_STEPS

    settings = _settings(ctx, db_url=db_url)
    steps = ["validate", *(step.label for step in DATA_STEPS), "write"]
    with _progress(steps, "prepare") as advance:
        summary = run_prepare(
            settings, input_path, on_step=advance, allow_shrink=allow_shrink, allow_unlabelled=allow_unlabelled
        )
    click.echo(f"prepared leads into {settings.redacted_db_url()}")
    for line in render.prepare_lines(summary):
        click.echo(f"  {line}")


@cli.command()
@click.option("--rows", type=click.IntRange(min=1), default=20_000, show_default=True, help="How many leads.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="CSV file to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same leads).")
@click.option("--start", default="2021-07-01", show_default=True, help="First creation date.")
@click.option("--end", default="2021-12-31", show_default=True, help="Last creation date.")
@click.option("--no-label", is_flag=True, help="Leave out app_complete_flag (leads to be scored).")
@click.option(
    "--outcomes",
    is_flag=True,
    help="Write the leads' outcomes instead (lead_id, app_complete_flag, outcome_at), as the CRM would: "
    "the same options without --outcomes give the same leads.",
)
def generate(rows: int, out_path: Path, seed: int, start: str, end: str, no_label: bool, outcomes: bool) -> None:
    """Write synthetic leads in the raw export schema, shaped like the real CodePro leads."""
    from lead_scoring.adapters.exports import write_spreadsheet_csv
    from lead_scoring.lab.generate import generate_leads, write_outcomes

    leads = generate_leads(rows, seed=seed, start=start, end=end, with_label=not no_label or outcomes)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if outcomes:
        write_outcomes(leads, out_path)
        click.echo(f"wrote the outcomes of {len(leads):,} synthetic leads to {out_path}")
        return
    write_spreadsheet_csv(leads, out_path)
    click.echo(f"wrote {len(leads):,} synthetic leads to {out_path}")


@cli.command()
@click.option(
    "--outcomes",
    "outcomes_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CRM outcome export (CSV): lead_id, app_complete_flag (0/1), optionally outcome_at.",
)
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.pass_context
def feedback(ctx: click.Context, outcomes_path: Path, db_url: str | None) -> None:
    """Feed late outcomes back: realized performance per model version and week, and more training data."""
    from lead_scoring.pipelines.feedback import run_feedback

    settings = _settings(ctx, db_url=db_url)
    with _progress(["ingest", "performance", "append"], "feedback") as advance:
        summary = run_feedback(settings, outcomes_path, on_step=advance)
    click.echo(f"fed outcomes back into {settings.redacted_db_url()}")
    for line in render.feedback_lines(summary):
        click.echo(f"  {line}")
    if summary.performance.verdict.status == "below_target":
        click.echo(f"warning: {summary.performance.verdict.describe()}", err=True)


@cli.command()
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.option("--until", metavar="YYYY-MM-DD", help="Train only on leads created up to this day.")
@click.option("--force-promote", is_flag=True, help="Make the new version champion even if the gate says no.")
@click.option("--reason", help="Why (recorded on the version with --force-promote).")
@click.pass_context
def train(ctx: click.Context, db_url: str | None, until: str | None, force_promote: bool, reason: str | None) -> None:
    """Train a LightGBM scorer on `model_input`, track it in MLflow, register it, and gate promotion."""
    from lead_scoring.pipelines.training import run_training

    if force_promote:
        _required_reason(ctx, None, reason)
    settings = _settings(ctx, db_url=db_url)
    steps = ["check input", "train", "report", "register", "promote"]
    with _progress(steps, "train") as advance:
        summary = run_training(settings, until, force=force_promote, reason=reason, on_step=advance)
    click.echo(f"trained {settings.model_name} version {summary.version}")
    for line in render.training_lines(summary):
        click.echo(f"  {line}")
    click.echo(
        f"  see it in the MLflow UI: {summary.link} (make mlflow; tracking store {settings.redacted_tracking_uri()})"
    )


@cli.command()
@click.argument("version")
@click.option(
    "--reason",
    required=True,
    callback=lambda c, p, v: _required_reason(c, p, v),
    help="Why this version should serve (recorded).",
)
@click.pass_context
def promote(ctx: click.Context, version: str, reason: str) -> None:
    """Make VERSION the champion by hand; the move is recorded (who, when, why)."""
    from lead_scoring.adapters.mlflow import registry

    settings = _settings(ctx)
    version = _version_number(version)
    registry.move_champion(settings, version, reason=f"by hand: {reason}", kind="force")
    click.echo(f"version {version} of {settings.model_name} is now champion")


@cli.command()
@click.option(
    "--reason",
    required=True,
    callback=lambda c, p, v: _required_reason(c, p, v),
    help="Why the current champion is withdrawn (recorded).",
)
@click.pass_context
def rollback(ctx: click.Context, reason: str) -> None:
    """Give the champion alias back to the version that held it before the current one."""
    from lead_scoring.adapters.mlflow import registry

    settings = _settings(ctx)
    previous, restored = registry.rollback(settings, reason)
    click.echo(f"champion rolled back from version {previous} to version {restored}")


@cli.command()
@click.option("--since", metavar="YYYY-MM-DD", help="First day of the out-of-time leads in model_input.")
@click.option("--until", metavar="YYYY-MM-DD", help="Last day (default: the newest lead).")
@click.option(
    "--labels", type=click.Path(path_type=Path), help="Instead: grade the stored predictions with this labelled export."
)
@click.option("--version", "model_version", help="With --labels: the model version whose predictions to grade.")
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.pass_context
def evaluate(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    labels: Path | None,
    model_version: str | None,
    db_url: str | None,
) -> None:
    """Out-of-time check: the champion vs the reference on labelled leads it has not seen (--since),
    or the `predictions` already written graded against labels that arrived later (--labels)."""
    from lead_scoring.lab.evaluate import out_of_time_report, predictions_report

    settings = _settings(ctx, db_url=db_url)
    if labels is not None and since is None:
        lines = render.predictions_lines(predictions_report(settings, str(labels), model_version))
    elif since is not None and labels is None:
        lines = render.out_of_time_lines(out_of_time_report(settings, since, until))
    else:
        raise click.UsageError("give either --since DATE or --labels CSV")
    for line in lines:
        click.echo(line)


@cli.command()
@click.option(
    "--months", required=True, metavar="YYYY-MM,...", help="Months to test, each trained only on the leads before it."
)
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.pass_context
def backtest(ctx: click.Context, months: str, db_url: str | None) -> None:
    """Would the training recipe have held? Month by month out of time, the old validation rule
    beside the backtested decision policy (nothing is logged or registered)."""
    from lead_scoring.lab.backtest import monthly_report

    settings = _settings(ctx, db_url=db_url)
    report = monthly_report(settings, [m.strip() for m in months.split(",") if m.strip()])
    for line in render.backtest_lines(report):
        click.echo(line)


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="Raw leads (CSV).")
@click.option(
    "--output", "output_path", type=click.Path(path_type=Path), help="Also write the scores here, hottest first."
)
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True, help="Show the N hottest leads.")
@click.option(
    "--production",
    is_flag=True,
    help="These leads are a day of operation: later batches are ranked among them (default: ad hoc, they are not).",
)
@click.pass_context
def score(
    ctx: click.Context, input_path: Path, output_path: Path | None, db_url: str | None, top: int, production: bool
) -> None:
    """Score new leads with the champion into the `predictions` table."""
    from lead_scoring.pipelines.scoring import score_file

    settings = _settings(ctx, db_url=db_url)
    steps = ["validate", "load champion", "transform", "score", "write", "monitor"]
    with _progress(steps, "score") as advance:
        summary = score_file(settings, input_path, output_path, on_step=advance, production=production)
    click.echo(f"scored leads into {settings.redacted_db_url()} (table predictions)")
    for line in render.scoring_lines(summary):
        click.echo(f"  {line}")
    if summary.status == "drifted":
        click.echo(f"warning: these leads drifted from the training leads: {summary.monitoring.summary}", err=True)
    if top and summary.hottest is not None:
        click.echo(f"\nthe {min(top, len(summary.hottest))} hottest leads:")
        for row in summary.hottest.head(top).itertuples():
            # lead ids and reasons come from the export: an escape sequence in one must not reach the terminal
            click.echo(f"  {printable(row.lead_id)}  {row.score:.3f}  {row.bucket:<4}  {printable(row.top_reasons)}")


@cli.command()
@click.option("--db", "db_url", help="Staging database URL; default: $LEAD_SCORING_DB_URL.")
@click.option("--learners", default="lightgbm,lr,rf,et,dt", show_default=True, help="PyCaret learner ids.")
@click.option("--folds", type=click.IntRange(min=2), default=3, show_default=True, help="Time-ordered folds.")
@click.pass_context
def experiment(ctx: click.Context, db_url: str | None, learners: str, folds: int) -> None:
    """Compare candidate learners with PyCaret (time-ordered folds); every candidate is an MLflow run."""
    from lead_scoring.core.fitting import check_sufficiency
    from lead_scoring.lab.experiment import compare_learners
    from lead_scoring.pipelines.training import load_training_input

    settings = _settings(ctx, db_url=db_url)
    model_input = load_training_input(settings)
    check_sufficiency(model_input, settings.min_training_leads, settings.min_conversions)
    with _progress(["compare"], "experiment") as advance:
        advance("compare models")
        result = compare_learners(
            settings, model_input, tuple(x.strip() for x in learners.split(",") if x.strip()), folds
        )
    click.echo(
        f"compared {len(result.table)} learners (MLflow experiment {settings.experiment_name}-selection, "
        f"run {result.parent_run_id})"
    )
    for line in render.selection_lines(result):
        click.echo(f"  {line}")


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="Labelled raw leads (CSV).")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First day; trains on the leads before.")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last replayed day.")
@click.option("--retrain", "retrain_days", type=click.IntRange(min=1), default=7, show_default=True, help="Days apart.")
@click.option("--outcome-lag", type=click.IntRange(min=0), default=14, show_default=True, help="Days to an outcome.")
@click.option("--home", type=click.Path(path_type=Path), help="Keep the replay's stores here (default: a temp dir).")
@click.option(
    "--base-rate",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True, max_open=True),
    help="Thin the converting leads of each replayed month at random (seeded) to this base rate.",
)
@click.pass_context
def replay(ctx: click.Context, /, input_path: Path, **given: Any) -> None:
    """Replay operation day by day on a labelled export: score, feed outcomes, retrain, as the DAGs do."""
    from lead_scoring.lab.replay import ReplayPlan
    from lead_scoring.lab.replay import replay as run_replay

    home = given.pop("home")
    with _progress([], "replay") as advance:
        report = run_replay(_settings(ctx), input_path, ReplayPlan(**given), home=home, on_step=advance)
    for line in render.replay_lines(report):
        click.echo(line)


def _version_number(version: str) -> str:
    """The version as the registry writes it: "01" is version 1."""
    from lead_scoring.adapters.mlflow.registry import normalise_version
    from lead_scoring.errors import ModelNotFoundError

    try:
        return normalise_version(version)
    except ModelNotFoundError:
        raise click.BadParameter(f"{version!r} is not a version number", param_hint="VERSION") from None


def _required_reason(_ctx: click.Context | None, _param: object, reason: str | None) -> str:
    """A reason that says something: it is recorded with the move of champion."""
    from lead_scoring.adapters.mlflow.registry import check_reason

    if reason is None:
        raise click.BadParameter("give a reason (it is recorded with the move of champion)", param_hint="--reason")
    try:
        check_reason(reason.strip())  # before anything is trained or moved
    except LeadScoringError as exc:
        raise click.BadParameter(str(exc), param_hint="--reason") from None
    return reason.strip()


cli.add_command(commands.serve)
cli.add_command(commands.db)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; user errors exit with status 2 and one line on stderr."""
    try:
        cli.main(args=argv, prog_name="lead-scoring", standalone_mode=False)
    except LeadScoringError as exc:
        click.echo(redact_text(f"error: {printable(str(exc))}"), err=True)
        return EXIT_USER_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        # one line like every other user error (click's usage block would make it five)
        click.echo(redact_text(f"error: {exc.format_message()}"), err=True)
        return EXIT_USER_ERROR
    except Exception:
        click.echo(redact_text(traceback.format_exc().rstrip()), err=True)  # MLflow quotes its URI in errors
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
