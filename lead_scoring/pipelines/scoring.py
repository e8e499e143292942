"""Scoring one batch of leads with a registered version, and the whole inference pipeline in one process.

``score_file`` runs it for the CLI; :mod:`lead_scoring.pipelines.inference` runs the same functions
one step per task of the daily DAG; :mod:`lead_scoring.adapters.scoring_runs` keeps what each run did.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from numpy.typing import NDArray

from lead_scoring.adapters.exports import write_spreadsheet_csv
from lead_scoring.adapters.mlflow.registry import ScoringModel, load_version, now_utc, scoring_version, set_version_tags
from lead_scoring.adapters.scored_leads import record_scored_leads
from lead_scoring.adapters.scoring_runs import recent_scores, record_run
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.evidence import unusual_inputs
from lead_scoring.core.frames import copy_on_write
from lead_scoring.core.mappings import load_mappings
from lead_scoring.core.monitoring import (
    compare_with_reference,
    known_levels,
    thin_evidence_reference,
    unusual_against_training,
)
from lead_scoring.core.scoring import COLD, HOT, WARM, ScoringSummary, build_predictions
from lead_scoring.pipelines.data import read_and_validate, transform_leads
from lead_scoring.schema import LABEL, LEAD_ID, MODEL_INPUT, ONLINE_CUT_TAG, PREDICTIONS
from lead_scoring.settings import Settings

StepCallback = Callable[[str], None]


_LOADED: OrderedDict[tuple[str, str, str, str], ScoringModel] = OrderedDict()
_LOADED_VERSIONS = 2  # a worker scoring with one champion, and a backfill's older version beside it


def load_model(settings: Settings, version: str | None = None) -> ScoringModel:
    """The registry's champion (or a given version), its pyfunc model and its reference profile: the one
    place both scoring paths load a model.

    The champion alias is looked up on every call (it moves); the model and profile of a version are
    loaded once per process and kept (a registered version's artifacts never change), the last
    ``_LOADED_VERSIONS`` of them. The version's tags are the registry's current ones.
    """
    found = scoring_version(settings, version)
    key = (settings.tracking_uri, settings.model_name, str(found.version), found.run_id)
    cached = _LOADED.get(key)
    if cached is None:
        cached = _LOADED[key] = load_version(settings, found)
        while len(_LOADED) > _LOADED_VERSIONS:
            _LOADED.popitem(last=False)
    else:
        _LOADED.move_to_end(key)
    return replace(cached, tags=dict(found.tags))


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
        scoring = load_model(settings)
        notify("transform")
        model_input = transform_leads(validated, mappings)[MODEL_INPUT]
        run_key = "file:" + content_key(model_input[LEAD_ID], scoring.version)
        notify("score")
        db = StagingDatabase(settings.db_url)
        try:
            recent = recent_scores(db, scoring, settings.policy_pool)
            predictions = predict(settings, scoring, model_input, recent)
            publish_online_cut(settings, scoring, predictions, recent)
            notify("write")
            db.merge_rows(run_key_for(run_key), PREDICTIONS, predictions, keys=[LEAD_ID, "model_name", "model_version"])
            record_scored_leads(db, run_key, model_input, predictions["scored_at"].max())  # for the feedback loop
            notify("monitor")
            summary = replace(
                summarise(run_key, str(input_path), scoring, model_input, predictions, settings),
                duplicates_dropped=report.duplicates_dropped,
                seconds=round(time.perf_counter() - started, 3),
                hottest=predictions.head(50),
            )
            record_run(db, settings, summary, interval=None)
        finally:
            db.dispose()
        if output_path is not None:
            write_spreadsheet_csv(predictions, output_path)  # hottest first; lead ids never run as formulas
        return summary


def predict(
    settings: Settings, scoring: ScoringModel, model_input: pd.DataFrame, recent: NDArray[Any] | None = None
) -> pd.DataFrame:
    """The scoring version's predictions for a model-input frame, as `predictions` rows (pure but for the model).

    ``predicted_label`` follows the model's decision policy; a rank policy ranks the batch among
    ``recent``, the latest scores of the same version (see ``recent_scores``).
    """
    features = model_input.drop(columns=[LABEL], errors="ignore")
    # the scorer itself: the registered pyfunc of a newer version takes raw leads (the online path)
    output = scoring.scorer.predict_frame(features).reset_index(drop=True)
    if len(output) != len(features):
        raise RuntimeError(f"model returned {len(output)} rows for {len(features)} leads")
    output["predicted_label"] = scoring.scorer.labels(output["score"].to_numpy(), recent)
    return build_predictions(
        features[LEAD_ID],
        output,
        model_name=scoring.name,
        model_version=scoring.version,
        scored_at=datetime.now(UTC).replace(tzinfo=None),
        hot_cutoff=settings.hot_cutoff,
        warm_cutoff=settings.warm_cutoff,
    )


def publish_online_cut(
    settings: Settings, scoring: ScoringModel, predictions: pd.DataFrame, recent: NDArray[Any] | None
) -> float:
    """Tag the version with the cut this batch flagged at (``online_cut``): the served model labels with it.

    The cut is the policy's for this batch among ``recent``, exactly what ``predict`` applied; a
    served model reads it when it loads, so a lead scored online before the next batch gets the label
    this batch would have given it.
    """
    cut = scoring.scorer.policy_cut(predictions["score"].to_numpy(dtype=float), recent)
    set_version_tags(settings, scoring.version, {ONLINE_CUT_TAG: repr(float(cut)), f"{ONLINE_CUT_TAG}_at": now_utc()})
    return float(cut)


def summarise(
    run_key: str,
    source: str,
    scoring: ScoringModel,
    model_input: pd.DataFrame,
    predictions: pd.DataFrame,
    settings: Settings,
) -> ScoringSummary:
    """What one batch was: counts, buckets, thin evidence, and drift against the model's reference profile (pure)."""
    report = compare_with_reference(
        scoring.profile, model_input, predictions, settings.drift_limit, scoring.scorer.features
    )
    unusual = unusual_inputs(model_input, known_levels(scoring.profile))
    return ScoringSummary(
        run_key=run_key,
        source=source,
        model_name=scoring.name,
        model_version=scoring.version,
        rows_scored=len(predictions),
        positives=int(predictions["predicted_label"].sum()),
        buckets={b: int((predictions["bucket"] == b).sum()) for b in (HOT, WARM, COLD)},
        unusual=unusual,
        thin=unusual_against_training(unusual, len(model_input), thin_evidence_reference(scoring.profile)),
        monitoring=report,
    )


def content_key(lead_ids: pd.Series, version: str) -> str:
    digest = hashlib.sha1("\n".join(sorted(lead_ids.astype(str))).encode("utf-8"))
    digest.update(f"|{version}".encode())
    return digest.hexdigest()[:16]
