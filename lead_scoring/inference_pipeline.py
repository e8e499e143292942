"""The inference pipeline: new raw leads -> the champion's scores, reasons and buckets -> `predictions`.

``score_file`` runs it in one process (the CLI); the ``*_step`` functions run one step each for the
daily Airflow DAG, passing data through this run's scratch tables. Every run is keyed: a rerun of the
same leads with the same model replaces its own rows and its own ``scoring_runs`` record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lead_scoring.data_pipeline import read_and_validate, transform_leads
from lead_scoring.errors import InputDataError, LeadScoringError
from lead_scoring.exports import write_spreadsheet_csv
from lead_scoring.feedback_pipeline import record_scored_leads
from lead_scoring.frames import copy_on_write
from lead_scoring.mappings import load_mappings
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, MODEL_INPUT, PREDICTIONS, SCORING_RUNS
from lead_scoring.scoring import PREDICTION_COLUMNS, build_predictions, scoring_run_name, unusual_inputs
from lead_scoring.settings import Settings
from lead_scoring.staging import StagingDatabase, run_key_for

if TYPE_CHECKING:
    from lead_scoring.registry import ScoringModel

log = logging.getLogger(__name__)

SCORING_LEADS = "scoring_leads"  # scratch: the validated leads of one run
SCORING_INPUT = "scoring_model_input"  # scratch: their model input
SCORED = "scored"  # scratch: their predictions, before they are merged into `predictions`

StepCallback = Callable[[str], None]

_UNUSUAL_WORDS = {
    "unseen_first_platform_c_raw": "rare/new platform",
    "unseen_first_utm_medium_c_raw": "rare/new medium",
    "unseen_first_utm_source_c_raw": "rare/new source",
    "unseen_city_mapped": "rare/new city",
    "missing_city": "no city",
    "no_interactions": "no interactions",
}


class DriftDetectedError(LeadScoringError):
    """Incoming leads no longer look like the leads the model learned from (scores were still written)."""


@dataclass
class ScoringSummary:
    """What one scoring run did: the `scoring_runs` record and the CLI summary."""

    run_key: str
    source: str
    model_name: str
    model_version: str
    rows_scored: int
    duplicates_dropped: int = 0
    positives: int = 0
    buckets: dict[str, int] = field(default_factory=dict)
    unusual: dict[str, int] = field(default_factory=dict)  # every count, recorded in scoring_runs
    thin: dict[str, dict] = field(default_factory=dict)  # the counts whose share exceeds the training leads'
    monitoring: dict = field(default_factory=dict)
    seconds: float = 0.0
    hottest: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return self.monitoring.get("status", "ok")

    def _expected_share(self) -> str:
        expected = self.monitoring.get("expected_positive_share")
        known = expected is not None and not np.isnan(expected)  # NaN: a model from before decision policies
        return f"; the decision policy expects {expected:.1%}" if known else ""

    def lines(self) -> list[str]:
        share = self.positives / self.rows_scored if self.rows_scored else 0.0
        lines = [
            f"source           {self.source}",
            f"model            {self.model_name} v{self.model_version} (champion)",
            f"leads scored     {self.rows_scored}"
            + (f" ({self.duplicates_dropped} exact duplicate(s) dropped)" if self.duplicates_dropped else ""),
            f"predicted apply  {self.positives} ({share:.1%}{self._expected_share()})",
            "buckets          " + ", ".join(f"{k} {v}" for k, v in self.buckets.items()),
        ]
        if self.thin:  # only what is unusual against the training leads
            lines.append("thin evidence    " + ", ".join(_thin_words(k, v) for k, v in self.thin.items()))
        if self.monitoring:
            lines.append(f"monitoring       {self.status}: {self.monitoring.get('summary', '')}")
        lines.append(f"time             {self.seconds:.2f} s")
        return lines


def _thin_words(key: str, figures: dict) -> str:
    words = f"{_UNUSUAL_WORDS.get(key, key)} {figures['count']} ({figures['share']:.0%}"
    if figures.get("training_share") is not None:
        words += f" vs {figures['training_share']:.0%} in training"
    return words + ")"


def load_champion(settings: Settings, version: str | None = None) -> ScoringModel:
    """The registry's champion (or a given version), its pyfunc model and its reference profile."""
    from lead_scoring import registry

    return registry.load_scoring_model(settings, version)


# -- the whole pipeline in one process (CLI) --------------------------------------------------------


def score_file(
    settings: Settings,
    input_path: str | Path,
    output_path: str | Path | None = None,
    on_step: StepCallback | None = None,
) -> ScoringSummary:
    """Score one raw export with the champion; writes `predictions`, `scoring_runs` and optionally a CSV."""
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    mappings = load_mappings(settings)
    with copy_on_write():  # the pipeline's frames share columns instead of copying them
        notify("validate")
        validated, report = read_and_validate(input_path, use_label=False)
        notify("load champion")
        champion = load_champion(settings)
        notify("transform")
        model_input = transform_leads(validated, mappings)[MODEL_INPUT]
        run_key = "file:" + _content_key(model_input[LEAD_ID], champion.version)
        notify("score")
        db = StagingDatabase(settings.db_url)
        try:
            predictions = predict(settings, champion, model_input, recent_scores(db, champion, settings.policy_pool))
            notify("write")
            db.merge_rows(run_key_for(run_key), PREDICTIONS, predictions, keys=[LEAD_ID, "model_name", "model_version"])
            record_scored_leads(db, run_key, model_input, predictions["scored_at"].max())  # for the feedback loop
            notify("monitor")
            summary = _summarise(run_key, str(input_path), champion, model_input, predictions, settings)
            summary.duplicates_dropped = report.duplicates_dropped
            summary.seconds = round(time.perf_counter() - started, 3)
            summary.hottest = predictions.head(50)
            _record_run(db, settings, summary, interval=None)
        finally:
            db.dispose()
        if output_path is not None:
            write_spreadsheet_csv(predictions, output_path)  # hottest first; lead ids never run as formulas
        return summary


def predict(
    settings: Settings, champion: ScoringModel, model_input: pd.DataFrame, recent: np.ndarray | None = None
) -> pd.DataFrame:
    """The champion's predictions for a model-input frame, as `predictions` rows (pure but for the model).

    ``predicted_label`` follows the model's decision policy; a rank policy ranks the batch among
    ``recent``, the latest scores of the same version (see ``recent_scores``).
    """
    features = model_input.drop(columns=[LABEL], errors="ignore")
    output = champion.model.predict(features)
    if len(output) != len(features):
        raise RuntimeError(f"model returned {len(output)} rows for {len(features)} leads")
    output["predicted_label"] = champion.scorer.labels(output["score"].to_numpy(), recent)
    return build_predictions(
        features[LEAD_ID],
        output,
        model_name=champion.name,
        model_version=champion.version,
        scored_at=datetime.now(UTC).replace(tzinfo=None),
        hot_cutoff=settings.hot_cutoff,
        warm_cutoff=settings.warm_cutoff,
    )


def recent_scores(db: StagingDatabase, champion: ScoringModel, limit: int) -> np.ndarray:
    """The latest ``limit`` scores the champion's version wrote to `predictions` (empty at first)."""
    if limit <= 0 or not db.has_table(PREDICTIONS):
        return np.empty(0)
    frame = db.query(
        f"SELECT score FROM {PREDICTIONS} WHERE model_name = :name AND model_version = :version "
        "ORDER BY scored_at DESC LIMIT :limit",
        name=champion.name,
        version=str(champion.version),
        limit=int(limit),
    )
    return frame["score"].to_numpy(dtype=float)


def _summarise(
    run_key: str,
    source: str,
    champion: ScoringModel,
    model_input: pd.DataFrame,
    predictions: pd.DataFrame,
    settings: Settings,
) -> ScoringSummary:
    from lead_scoring.monitoring import (
        compare_with_reference,
        known_levels,
        thin_evidence_reference,
        unusual_against_training,
    )

    monitoring = compare_with_reference(
        champion.profile, model_input, predictions, settings.drift_limit, champion.scorer.features
    )
    unusual = unusual_inputs(model_input, known_levels(champion.profile))
    return ScoringSummary(
        run_key=run_key,
        source=source,
        model_name=champion.name,
        model_version=champion.version,
        rows_scored=len(predictions),
        positives=int(predictions["predicted_label"].sum()),
        buckets={b: int((predictions["bucket"] == b).sum()) for b in ("hot", "warm", "cold")},
        unusual=unusual,
        thin=unusual_against_training(unusual, len(model_input), thin_evidence_reference(champion.profile)),
        monitoring=monitoring,
    )


def _record_run(
    db: StagingDatabase, settings: Settings, summary: ScoringSummary, interval: tuple[str, str] | None
) -> None:
    """One `scoring_runs` row per run key (replaced on rerun), and the same figures in MLflow."""
    monitoring = summary.monitoring
    row = pd.DataFrame(
        [
            {
                "run_key": summary.run_key,
                "source": summary.source,
                "interval_start": interval[0] if interval else None,
                "interval_end": interval[1] if interval else None,
                "model_name": summary.model_name,
                "model_version": summary.model_version,
                "rows_scored": summary.rows_scored,
                "positives": summary.positives,
                "positive_share": monitoring.get("positive_share"),
                "expected_positive_share": monitoring.get("expected_positive_share"),
                "score_psi": monitoring.get("score_psi"),
                "max_feature_psi": monitoring.get("max_feature_psi"),
                "drift": json.dumps(monitoring.get("feature_psi", {}), sort_keys=True),
                "drifted_features": ",".join(monitoring.get("drifted_features", [])),
                "unusual_inputs": json.dumps(summary.unusual, sort_keys=True),
                "status": summary.status,
                "recorded_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
            }
        ]
    )
    db.merge_rows(run_key_for("runs:" + summary.run_key), SCORING_RUNS, row, keys=["run_key"])
    try:
        _log_scoring_run(settings, summary)
    except LeadScoringError:
        raise
    except Exception:  # noqa: BLE001 - monitoring in MLflow must not lose the scores already written
        log.exception("could not log scoring run %s to MLflow", summary.run_key)


def _log_scoring_run(settings: Settings, summary: ScoringSummary) -> None:
    """The run's monitoring figures in MLflow (experiment `<experiment>-scoring`), one run per run key."""
    from lead_scoring.tracking import tracking

    monitoring = summary.monitoring
    metrics = {
        "rows_scored": summary.rows_scored,
        "positive_share": monitoring.get("positive_share"),
        "expected_positive_share": monitoring.get("expected_positive_share"),
        "share_at_reference_cut": monitoring.get("share_at_reference_cut"),
        "share_tolerance": monitoring.get("share_tolerance"),
        "score_psi": monitoring.get("score_psi"),
        "max_feature_psi": monitoring.get("max_feature_psi"),
        **{f"psi_{k}": v for k, v in monitoring.get("feature_psi", {}).items()},
    }
    tags = {"model_version": str(summary.model_version), "status": summary.status, "source": summary.source}
    name = scoring_run_name(summary.run_key, summary.source, summary.rows_scored)
    tracking(settings).log_scoring_run(summary.run_key, name, metrics, tags)


def _content_key(lead_ids: pd.Series, version: str) -> str:
    digest = hashlib.sha1("\n".join(sorted(lead_ids.astype(str))).encode("utf-8"))
    digest.update(f"|{version}".encode())
    return digest.hexdigest()[:16]


# -- one step per task of the daily DAG --------------------------------------------------------------


def interval_run_key(interval_start: str) -> str:
    """The key of a daily run: its data interval, so reruns and backfills replace their own rows."""
    return f"interval:{_naive_utc(interval_start).isoformat()}"


def _naive_utc(moment: object) -> pd.Timestamp:
    """Lead dates are naive UTC; Airflow's interval bounds are aware."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def landing_files(settings: Settings, interval_start: str) -> list[Path]:
    """The day's file `leads_YYYY-MM-DD.csv` when it landed, else every CSV in the landing folder."""
    day_file = settings.landing_dir / f"leads_{_naive_utc(interval_start):%Y-%m-%d}.csv"
    if day_file.is_file():
        return [day_file]
    return sorted(settings.landing_dir.glob("*.csv"))


def check_input_step(settings: Settings, interval_start: str, interval_end: str) -> int:
    """How many landed leads were created in the interval (0: nothing to score today)."""
    files = landing_files(settings, interval_start)
    if not files:
        raise InputDataError(f"{settings.landing_dir}: no lead files have landed (expected leads_YYYY-MM-DD.csv)")
    start, end = _naive_utc(interval_start), _naive_utc(interval_end)
    count = 0
    for path in files:
        try:
            dates = pd.read_csv(path, usecols=[CREATED_DATE])[CREATED_DATE]
        except ValueError:
            raise InputDataError(f"{path}: missing required column(s): {CREATED_DATE}") from None
        created = pd.to_datetime(dates, errors="coerce")
        count += int(((created >= start) & (created < end)).sum())
    log.info("%d lead(s) created in [%s, %s) in %s", count, start, end, ", ".join(map(str, files)))
    return count


def validate_step(settings: Settings, interval_start: str, interval_end: str) -> int:
    """Validate the landed files and keep the interval's leads as this run's scratch table."""
    start, end = _naive_utc(interval_start), _naive_utc(interval_end)
    frames = []
    for path in landing_files(settings, interval_start):
        validated, _ = read_and_validate(path, use_label=False)
        frames.append(validated[(validated[CREATED_DATE] >= start) & (validated[CREATED_DATE] < end)])
    leads = pd.concat(frames, ignore_index=True).drop_duplicates(subset=[LEAD_ID])
    with _scratch(settings) as db:
        db.write_scratch(_key(interval_start), SCORING_LEADS, leads)
    return len(leads)


def transform_step(settings: Settings, interval_start: str) -> int:
    with _scratch(settings) as db:
        leads = db.read_scratch(_key(interval_start), SCORING_LEADS)
        model_input = transform_leads(leads, load_mappings(settings))[MODEL_INPUT]
        db.write_scratch(_key(interval_start), SCORING_INPUT, model_input)
    return len(model_input)


def score_step(settings: Settings, interval_start: str) -> str:
    """Score the interval's leads with the champion; returns the model version that scored them."""
    champion = load_champion(settings)
    with _scratch(settings) as db:
        model_input = db.read_scratch(_key(interval_start), SCORING_INPUT)
        recent = recent_scores(db, champion, settings.policy_pool)
        db.write_scratch(_key(interval_start), SCORED, predict(settings, champion, model_input, recent))
    return champion.version


def write_step(settings: Settings, interval_start: str) -> int:
    """Merge the run's predictions into `predictions` (same leads, same model: replaced) and keep their
    model input in `scored_leads` for the feedback loop."""
    with _scratch(settings) as db:
        scored = db.read_scratch(_key(interval_start), SCORED)
        keys = [LEAD_ID, "model_name", "model_version"]
        written = db.merge_rows(_key(interval_start), PREDICTIONS, scored, keys=keys)
        model_input = db.read_scratch(_key(interval_start), SCORING_INPUT)
        record_scored_leads(db, interval_run_key(interval_start), model_input, scored["scored_at"].max())
        return written


def outbox_path(settings: Settings, interval_start: str) -> Path:
    """The day's file for sales: ``$LEAD_SCORING_HOME/outbox/scored_YYYY-MM-DD.csv``."""
    return settings.outbox_dir / f"scored_{_naive_utc(interval_start):%Y-%m-%d}.csv"


def outbox_step(settings: Settings, interval_start: str) -> str:
    """Write the day's scored leads, hottest first, to the outbox (spreadsheet-safe; a rerun of the
    day rewrites its file whole). Returns the file's path."""
    with _scratch(settings) as db:
        scored = db.read_scratch(_key(interval_start), SCORED)
    order = np.lexsort((scored[LEAD_ID].astype(str).to_numpy(), -scored["score"].to_numpy(dtype=float)))
    day = scored.take(order).reset_index(drop=True)[list(PREDICTION_COLUMNS)]  # as `score --output` writes
    path = write_spreadsheet_csv(day, outbox_path(settings, interval_start))
    log.info("wrote %d scored lead(s) to %s", len(day), path)
    return str(path)


def monitor_step(settings: Settings, interval_start: str, interval_end: str, model_version: str) -> dict:
    """Record the run in `scoring_runs` and MLflow; raise :class:`DriftDetectedError` past the drift limit."""
    key = _key(interval_start)
    champion = load_champion(settings, version=model_version)
    with _scratch(settings) as db:
        model_input = db.read_scratch(key, SCORING_INPUT)
        predictions = db.read_scratch(key, SCORED)
        summary = _summarise(
            interval_run_key(interval_start), str(settings.landing_dir), champion, model_input, predictions, settings
        )
        _record_run(db, settings, summary, interval=(str(interval_start), str(interval_end)))
        db.drop_scratch(key)
    if summary.status == "drifted":
        raise DriftDetectedError(
            f"input drift on {interval_start}: {summary.monitoring.get('summary')} "
            f"(limit {settings.drift_limit}); scores were written"
        )
    return {"rows_scored": summary.rows_scored, "status": summary.status}


def discard_step(settings: Settings, interval_start: str) -> None:
    with _scratch(settings) as db:
        db.drop_scratch(_key(interval_start))


def _key(interval_start: str) -> str:
    return run_key_for(interval_run_key(interval_start))


def _scratch(settings: Settings) -> StagingDatabase:
    return StagingDatabase(settings.db_url)
