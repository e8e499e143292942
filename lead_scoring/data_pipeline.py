"""The data pipeline: raw lead export -> the five staging tables.

``prepare`` runs it in one process (the CLI); the ``*_step`` functions run one step each over
this run's scratch tables (the Airflow DAG, one task per step), and ``publish_step`` makes the
run's tables visible together.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from lead_scoring.frames import copy_on_write
from lead_scoring.mappings import Mappings, load_mappings
from lead_scoring.schema import (
    CATEGORICAL_VARIABLES_MAPPED,
    CITY_TIER_MAPPED,
    DATA_PIPELINE_TABLES,
    INTERACTIONS_MAPPED,
    LABEL,
    LOADED_DATA,
    MODEL_INPUT,
)
from lead_scoring.settings import Settings
from lead_scoring.sources import read_raw_leads
from lead_scoring.staging import StagingDatabase, run_key_for
from lead_scoring.transforms import (
    build_model_input,
    load_leads,
    map_city_tier,
    map_interaction_groups,
    map_significant_levels,
)
from lead_scoring.validation import ValidationReport, validate_raw_leads

log = logging.getLogger(__name__)

VALIDATED_LEADS = "validated_leads"  # scratch only: the validated export before the load step

StepCallback = Callable[[str], None]


@dataclass
class PrepareSummary:
    """What one data-pipeline run did, for the CLI summary and the task log."""

    source: str
    rows_read: int
    duplicates_dropped: int
    unknown_columns: list[str]
    rows_written: int
    positives: int | None
    ids_derived: bool
    seconds: float
    tables: list[str] = field(default_factory=lambda: list(DATA_PIPELINE_TABLES))

    def lines(self) -> list[str]:
        dropped = f"{self.duplicates_dropped} exact duplicate(s)" if self.duplicates_dropped else "none"
        lines = [
            f"source           {self.source}",
            f"rows read        {self.rows_read}",
            f"rows dropped     {dropped}",
            f"rows written     {self.rows_written} to {', '.join(self.tables)}",
        ]
        if self.positives is not None:
            lines.append(f"conversions      {self.positives} ({self.positives / max(self.rows_written, 1):.1%})")
        if self.unknown_columns:
            lines.append(f"ignored columns  {', '.join(self.unknown_columns)}")
        if self.ids_derived:
            lines.append("lead_id          derived from each row (the export has no lead_id column)")
        rate = self.rows_read / self.seconds if self.seconds else float("inf")
        lines.append(f"time             {self.seconds:.2f} s ({rate:,.0f} rows/s)")
        return lines

    def as_dict(self) -> dict:
        return asdict(self)


def transform_leads(
    validated: pd.DataFrame, mappings: Mappings, on_step: StepCallback | None = None
) -> dict[str, pd.DataFrame]:
    """All five staging tables from validated leads (pure)."""
    notify = on_step or (lambda _name: None)
    notify(LOADED_DATA)
    loaded = load_leads(validated)
    notify(CITY_TIER_MAPPED)
    city = map_city_tier(loaded, mappings)
    notify(CATEGORICAL_VARIABLES_MAPPED)
    categorical = map_significant_levels(city, mappings)
    notify(INTERACTIONS_MAPPED)
    interactions = map_interaction_groups(categorical, mappings)
    notify(MODEL_INPUT)
    model_input = build_model_input(interactions, loaded)
    return {
        LOADED_DATA: loaded,
        CITY_TIER_MAPPED: city,
        CATEGORICAL_VARIABLES_MAPPED: categorical,
        INTERACTIONS_MAPPED: interactions,
        MODEL_INPUT: model_input,
    }


def read_and_validate(path: str | Path, *, use_label: bool = True) -> tuple[pd.DataFrame, ValidationReport]:
    """Read a raw export and validate it; raises :class:`InputDataError` with one plain line."""
    return validate_raw_leads(read_raw_leads(path), str(path), use_label=use_label)


def prepare(settings: Settings, input_path: str | Path, on_step: StepCallback | None = None) -> PrepareSummary:
    """Run the whole data pipeline on one export and publish the five tables together."""
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    mappings = load_mappings(settings)
    with copy_on_write():
        notify("validate")
        validated, report = read_and_validate(input_path)
        tables = transform_leads(validated, mappings, notify)
        notify("write")
        with StagingDatabase(settings.db_url) as db:
            db.replace_tables(tables, run_key_for(uuid.uuid4().hex))
        return _summary(report, tables[MODEL_INPUT], time.perf_counter() - started)


def _summary(report: ValidationReport, model_input: pd.DataFrame, seconds: float) -> PrepareSummary:
    return PrepareSummary(
        source=report.source,
        rows_read=report.rows_read,
        duplicates_dropped=report.duplicates_dropped,
        unknown_columns=report.unknown_columns,
        rows_written=len(model_input),
        positives=int(model_input[LABEL].sum()) if LABEL in model_input.columns else None,
        ids_derived=report.ids_derived,
        seconds=round(seconds, 3),
    )


# -- one step per Airflow task, over this run's scratch tables -------------------------------------


def validate_step(settings: Settings, input_path: str | Path, run_id: str) -> dict:
    """Validate the export and keep it as this run's scratch copy; returns the validation counts."""
    load_mappings(settings)  # fail here, not four tasks later, when a mapping file is broken
    with copy_on_write():
        validated, report = read_and_validate(input_path)
        _write(settings, run_id, VALIDATED_LEADS, validated)
    return {
        "rows_read": report.rows_read,
        "duplicates_dropped": report.duplicates_dropped,
        "unknown_columns": report.unknown_columns,
        "rows_valid": len(validated),
    }


def load_step(settings: Settings, run_id: str) -> int:
    return _apply(settings, run_id, VALIDATED_LEADS, LOADED_DATA, lambda df, _m: load_leads(df))


def city_tier_step(settings: Settings, run_id: str) -> int:
    return _apply(settings, run_id, LOADED_DATA, CITY_TIER_MAPPED, map_city_tier)


def categorical_levels_step(settings: Settings, run_id: str) -> int:
    return _apply(settings, run_id, CITY_TIER_MAPPED, CATEGORICAL_VARIABLES_MAPPED, map_significant_levels)


def interactions_step(settings: Settings, run_id: str) -> int:
    return _apply(settings, run_id, CATEGORICAL_VARIABLES_MAPPED, INTERACTIONS_MAPPED, map_interaction_groups)


def model_input_step(settings: Settings, run_id: str) -> int:
    key = run_key_for(run_id)
    with copy_on_write(), StagingDatabase(settings.db_url) as db:
        inputs = {db.scratch_name(key, name): db.read_scratch(key, name) for name in (INTERACTIONS_MAPPED, LOADED_DATA)}
        model_input = build_model_input(*inputs.values())
        db.write_scratch(key, MODEL_INPUT, model_input, earlier=inputs)
    return len(model_input)


def publish_step(settings: Settings, run_id: str) -> dict:
    """Publish this run's five tables together and clear its scratch tables."""
    db = StagingDatabase(settings.db_url)
    key = run_key_for(run_id)
    try:
        db.publish(key, DATA_PIPELINE_TABLES)
        db.drop_scratch(key)
        counts = db.query(f"SELECT COUNT(*) AS n FROM {MODEL_INPUT}")
    finally:
        db.dispose()
    return {"model_input_rows": int(counts["n"].iloc[0]), "tables": list(DATA_PIPELINE_TABLES)}


def discard_step(settings: Settings, run_id: str) -> None:
    """Drop this run's scratch tables (after a failure); the published tables are untouched."""
    db = StagingDatabase(settings.db_url)
    try:
        db.drop_scratch(run_key_for(run_id))
    finally:
        db.dispose()


def _apply(
    settings: Settings,
    run_id: str,
    source: str,
    target: str,
    step: Callable[[pd.DataFrame, Mappings], pd.DataFrame],
) -> int:
    key = run_key_for(run_id)
    with copy_on_write(), StagingDatabase(settings.db_url) as db:
        frame = db.read_scratch(key, source)
        result = step(frame, load_mappings(settings))
        # the columns a step leaves as they were are copied inside the database, not sent again
        db.write_scratch(key, target, result, earlier={db.scratch_name(key, source): frame})
    log.info("%s: %d rows", target, len(result))
    return len(result)


def _write(settings: Settings, run_id: str, name: str, frame: pd.DataFrame) -> None:
    db = StagingDatabase(settings.db_url)
    try:
        db.write_scratch(run_key_for(run_id), name, frame)
    finally:
        db.dispose()
