"""The data pipeline: raw lead export -> the five staging tables.

The steps are declared once, in :data:`lead_scoring.schema.DATA_STEPS`. ``prepare`` runs them in
one process (the CLI); ``validate_step``, ``run_step`` and ``publish_step`` run one each over this
run's scratch tables (the Airflow DAG, one task per step), and ``publish_step`` makes the run's
tables visible together.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.adapters.sources import read_raw_leads
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core import transforms
from lead_scoring.core.frames import copy_on_write
from lead_scoring.core.mappings import Mappings
from lead_scoring.core.validation import ValidationReport, validate_raw_leads
from lead_scoring.errors import InputDataError
from lead_scoring.pipelines.steps import StepCallback
from lead_scoring.schema import DATA_PIPELINE_TABLES, DATA_STEPS, LABEL, MODEL_INPUT, VALIDATED_LEADS, DataStep
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareSummary:
    """What one data-pipeline run did, for the CLI summary and the task log."""

    source: str
    rows_read: int
    duplicates_dropped: int
    unknown_columns: tuple[str, ...]
    rows_written: int
    positives: int | None
    ids_derived: bool
    seconds: float
    tables: tuple[str, ...] = DATA_PIPELINE_TABLES


def transform_leads(
    validated: pd.DataFrame, mappings: Mappings, on_step: StepCallback | None = None
) -> dict[str, pd.DataFrame]:
    """All the staging tables from validated leads, step by step as :data:`DATA_STEPS` declares (pure)."""
    notify = on_step or (lambda _name: None)
    frames = {VALIDATED_LEADS: validated}
    for step in DATA_STEPS:
        notify(step.label)
        frames[step.writes] = apply_step(step, [frames[name] for name in step.reads], mappings)
    return {name: frames[name] for name in DATA_PIPELINE_TABLES}


def apply_step(step: DataStep, inputs: list[pd.DataFrame], mappings: Mappings | None) -> pd.DataFrame:
    """One declared step: its pure function on the frames it reads (and the mappings when it uses them)."""
    function: Callable[..., pd.DataFrame] = getattr(transforms, step.function)
    if not step.uses_mappings:
        return function(*inputs)
    if mappings is None:
        raise ValueError(f"step {step.task_id} maps with the mapping tables: none were given")
    return function(*inputs, mappings)


def read_and_validate(path: str | Path, *, use_label: bool = True) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a raw export and validate it; raises :class:`InputDataError` with one plain line."""
    return validate_raw_leads(read_raw_leads(path), str(path), use_label=use_label)


def prepare(
    settings: Settings,
    input_path: str | Path,
    on_step: StepCallback | None = None,
    *,
    allow_shrink: bool = False,
    allow_unlabelled: bool = False,
) -> PrepareSummary:
    """Run the whole data pipeline on one export and publish the five tables together.

    An export much smaller than the published ``model_input`` is refused unless ``allow_shrink``;
    one without labels unless ``allow_unlabelled``.
    """
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    mappings = load_mappings(settings)
    with copy_on_write():
        notify("validate")
        validated, report = read_and_validate(input_path)
        check_labelled(report, allow_unlabelled)
        with StagingDatabase(settings.db_url) as db:
            if not allow_shrink:
                check_shrink(len(validated), db.count_rows(MODEL_INPUT), settings.shrink_limit, report.source)
            tables = transform_leads(validated, mappings, notify)
            notify("write")
            db.replace_tables(tables, run_key_for(uuid.uuid4().hex))
        return _summary(report, tables[MODEL_INPUT], time.perf_counter() - started)


def check_labelled(report: ValidationReport, allow_unlabelled: bool) -> None:
    """Refuse an export without labels: it would replace the labelled training leads (pure)."""
    if report.has_label or allow_unlabelled:
        return
    raise InputDataError(
        f"{report.source}: no {LABEL} column, so these leads have no labels and would replace the labelled "
        f"training leads in {MODEL_INPUT}; nothing was written. To score them: `lead-scoring score`; "
        "to publish them anyway: prepare --allow-unlabelled"
    )


def check_shrink(new_rows: int, published_rows: int | None, limit: float, source: str) -> None:
    """Refuse an export that would replace the published leads with far fewer (pure).

    A one-row export silently replacing 20,000 leads is far more often a mistake (a truncated
    download, the wrong file) than the intent.
    """
    if not published_rows or limit <= 0 or new_rows >= limit * published_rows:
        return
    raise InputDataError(
        f"{source}: {new_rows:,} lead(s) would replace the {published_rows:,} in {MODEL_INPUT}, fewer than "
        f"{limit:.0%} of them (LEAD_SCORING_SHRINK_LIMIT); nothing was written. If that is intended: "
        "prepare --allow-shrink, or the data DAG's param allow_shrink"
    )


def resolve_input_path(settings: Settings, given: str | Path) -> Path:
    """The export a data-DAG run may read: a CSV file under LEAD_SCORING_HOME or the landing folder.

    Relative paths are under LEAD_SCORING_HOME; ``..`` and symbolic links are resolved before the
    check, so a DAG run cannot make a worker read (and publish as training data) any file on it.
    """
    text = str(given)
    candidate = Path(text).expanduser()
    path = (candidate if candidate.is_absolute() else settings.home / candidate).resolve()
    roots = (Path(settings.home).resolve(), Path(settings.landing_dir).resolve())
    if not any(path.is_relative_to(root) for root in roots):
        raise InputDataError(
            f"input_path {text!r} is outside LEAD_SCORING_HOME and the landing folder "
            "(LEAD_SCORING_LANDING_DIR); a data-DAG run reads exports from those only"
        )
    if path.suffix.lower() != ".csv":
        raise InputDataError(f"input_path {text!r} is not a .csv file; a data-DAG run reads CSV exports only")
    return path


def _summary(report: ValidationReport, model_input: pd.DataFrame, seconds: float) -> PrepareSummary:
    return PrepareSummary(
        source=report.source,
        rows_read=report.rows_read,
        duplicates_dropped=report.duplicates_dropped,
        unknown_columns=tuple(report.unknown_columns),
        rows_written=len(model_input),
        positives=int(model_input[LABEL].sum()) if LABEL in model_input.columns else None,
        ids_derived=report.ids_derived,
        seconds=round(seconds, 3),
    )


# -- one step per Airflow task, over this run's scratch tables -------------------------------------


@dataclass(frozen=True)
class ValidatedExport:
    """What the validate task found (its XCom, as a dict)."""

    rows_read: int
    duplicates_dropped: int
    unknown_columns: tuple[str, ...]
    rows_valid: int


@dataclass(frozen=True)
class Published:
    """What the publish task made visible (its XCom, as a dict)."""

    model_input_rows: int
    tables: tuple[str, ...]


def validate_step(
    settings: Settings, input_path: str | Path, run_id: str, *, allow_shrink: bool = False
) -> ValidatedExport:
    """Validate the export and keep it as this run's scratch copy; returns the validation counts.

    ``input_path`` is the DAG run's param: it must resolve under LEAD_SCORING_HOME or the landing
    folder (:func:`resolve_input_path`).
    """
    load_mappings(settings)  # fail here, not four tasks later, when a mapping file is broken
    path = resolve_input_path(settings, input_path)
    with copy_on_write():
        validated, report = read_and_validate(path)
        check_labelled(report, allow_unlabelled=False)
        if not allow_shrink:
            with StagingDatabase(settings.db_url) as db:
                check_shrink(len(validated), db.count_rows(MODEL_INPUT), settings.shrink_limit, report.source)
        _write(settings, run_id, VALIDATED_LEADS, validated)
    return ValidatedExport(
        rows_read=report.rows_read,
        duplicates_dropped=report.duplicates_dropped,
        unknown_columns=tuple(report.unknown_columns),
        rows_valid=len(validated),
    )


def step_by_task(task_id: str) -> DataStep:
    """The declared step an Airflow task runs."""
    for step in DATA_STEPS:
        if step.task_id == task_id:
            return step
    raise KeyError(f"no data-pipeline step {task_id!r}; the steps: {', '.join(s.task_id for s in DATA_STEPS)}")


def run_step(settings: Settings, run_id: str, task_id: str) -> int:
    """One declared step over this run's scratch tables: reads its inputs, writes its output; returns its rows."""
    step = step_by_task(task_id)
    key = run_key_for(run_id)
    with copy_on_write(), StagingDatabase(settings.db_url) as db:
        inputs = {db.scratch_name(key, name): db.read_scratch(key, name) for name in step.reads}
        mappings = load_mappings(settings) if step.uses_mappings else None
        result = apply_step(step, list(inputs.values()), mappings)
        # the columns a step leaves as they were are copied inside the database, not sent again
        db.write_scratch(key, step.writes, result, earlier=inputs)
    log.info("%s: %d rows", step.writes, len(result))
    return len(result)


def publish_step(settings: Settings, run_id: str) -> Published:
    """Publish this run's five tables together and clear its scratch tables."""
    db = StagingDatabase(settings.db_url)
    key = run_key_for(run_id)
    try:
        db.publish(key, DATA_PIPELINE_TABLES)
        db.drop_scratch(key)
        counts = db.query(f"SELECT COUNT(*) AS n FROM {MODEL_INPUT}")
    finally:
        db.dispose()
    return Published(model_input_rows=int(counts["n"].iloc[0]), tables=DATA_PIPELINE_TABLES)


def discard_step(settings: Settings, run_id: str) -> None:
    """Drop this run's scratch tables (after a failure); the published tables are untouched."""
    db = StagingDatabase(settings.db_url)
    try:
        db.drop_scratch(run_key_for(run_id))
    finally:
        db.dispose()


def _write(settings: Settings, run_id: str, name: str, frame: pd.DataFrame) -> None:
    db = StagingDatabase(settings.db_url)
    try:
        db.write_scratch(run_key_for(run_id), name, frame)
    finally:
        db.dispose()
