"""Scoring one batch of leads with a registered version, and the whole inference pipeline in one process.

``score_file`` runs it for the CLI; :mod:`lead_scoring.pipelines.inference` runs the same functions
one step per task of the daily DAG; :mod:`lead_scoring.adapters.scoring_runs` keeps what each run did.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.adapters.exports import check_output_path, write_spreadsheet_csv
from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.adapters.mlflow.registry import ScoringModel, load_version, now_utc, scoring_version, set_version_tags
from lead_scoring.adapters.rank_evidence import production_leads, served_outcomes
from lead_scoring.adapters.scored_leads import record_scored_leads
from lead_scoring.adapters.scoring_runs import production_from, production_lead_ids, record_run
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.daily_share import ShareDecision, ShareRule, choose_share
from lead_scoring.core.evidence import unusual_inputs
from lead_scoring.core.frames import copy_on_write
from lead_scoring.core.monitoring import (
    compare_with_reference,
    known_levels,
    thin_evidence_reference,
    unusual_against_training,
)
from lead_scoring.core.scoring import (
    CHAMPION_ROLE,
    COLD,
    HOT,
    PREDICTION_COLUMNS,
    WARM,
    Role,
    ScoringSummary,
    build_predictions,
    mark_stream,
    pool_line,
)
from lead_scoring.pipelines.data import read_and_validate, transform_leads
from lead_scoring.pipelines.steps import StepCallback
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, MODEL_INPUT, ONLINE_CUT_TAG, PREDICTIONS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

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
    *,
    production: bool = False,
) -> ScoringSummary:
    """Score one raw export with the champion; writes `predictions`, `scoring_runs` and optionally a CSV.

    The batch is ranked among the champion's production stream for the leads created before its
    oldest lead. An ad-hoc file (the default) is not part of that stream: it changes no later
    batch's flags. ``production``: the file is a day of operation (e.g. leads of a day the DAG did
    not run), its rows join the stream.
    """
    started = time.perf_counter()
    notify = on_step or (lambda _name: None)
    if output_path is not None:
        check_output_path(output_path)  # before any row is written to the database
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
            before = model_input[CREATED_DATE].min() if len(model_input) else None
            pool = rank_pool(db, settings, scoring, before)
            predictions = predict(settings, scoring, model_input, pool, production=production)
            decision = day_share(db, settings, scoring, predictions["score"].to_numpy(dtype=float), pool, before)
            predictions = flag_with_share(scoring, predictions, pool, decision)
            if production and newest_production_batch(db, scoring, predictions):
                publish_online_cut(settings, scoring, predictions, pool, decision)  # the served model labels with it
            notify("write")
            kept = predictions if production else ad_hoc_rows(db, scoring, predictions)
            db.merge_rows(run_key_for(run_key), PREDICTIONS, kept, keys=[LEAD_ID, "model_name", "model_version"])
            recorded = model_input if production else ad_hoc_input(db, scoring, model_input)
            record_scored_leads(db, run_key, recorded, predictions["scored_at"].max())  # for the feedback loop
            notify("monitor")
            summary = replace(
                summarise(run_key, str(input_path), scoring, model_input, predictions, settings, share=decision),
                duplicates_dropped=report.duplicates_dropped,
                seconds=round(time.perf_counter() - started, 3),
                hottest=predictions.head(50),
                decision=describe_decision(scoring, predictions, pool, before, decision),
                pool_leads=len(pool),
                share=decision,
            )
            record_run(db, settings, summary, interval=None)
        finally:
            db.dispose()
        if output_path is not None:  # hottest first; lead ids never run as formulas
            write_spreadsheet_csv(predictions[list(PREDICTION_COLUMNS)], output_path)
        return summary


def ad_hoc_rows(db: StagingDatabase, scoring: ScoringModel, predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows of an ad-hoc batch that may be written: not those of leads the version already scored in
    the production stream (their production row, its flag, pool and record stand)."""
    if not len(predictions):
        return predictions
    taken = production_lead_ids(db, scoring.name, scoring.version, predictions[LEAD_ID].astype(str).tolist())
    if taken:
        log.info(
            "%d lead(s) are already in v%s's production stream: their production rows stand",
            len(taken),
            scoring.version,
        )
    return predictions[~predictions[LEAD_ID].astype(str).isin(taken)].reset_index(drop=True)


def ad_hoc_input(db: StagingDatabase, scoring: ScoringModel, model_input: pd.DataFrame) -> pd.DataFrame:
    """The model input of an ad-hoc batch that may be kept in `scored_leads`: not that of a lead any
    version scored in the production stream (the drift window and the feedback loop read it)."""
    ids = model_input[LEAD_ID].astype(str)
    taken = production_lead_ids(db, scoring.name, None, ids.tolist()) if len(ids) else set()
    return model_input[~ids.isin(taken)]


def newest_production_batch(db: StagingDatabase, scoring: ScoringModel, predictions: pd.DataFrame) -> bool:
    """Whether no production lead was created on a day after the batch's newest lead's day: only then
    does it publish the online cut (a backfill of an old day never moves it; a batch of the same
    days as another does)."""
    if not len(predictions) or CREATED_DATE not in predictions.columns:
        return True
    next_day = pd.Timestamp(predictions[CREATED_DATE].max()).normalize() + pd.Timedelta(days=1)
    return not production_from(db, scoring.name, next_day)


def rank_pool(
    db: StagingDatabase, settings: Settings, scoring: ScoringModel, before: object, role: Role = CHAMPION_ROLE
) -> NDArray[Any]:
    """The point-in-time pool a batch is ranked among: the version's own scores of the latest
    ``policy_pool`` production leads created before ``before`` (None: an empty batch, no pool), in the
    ``warm_pool_days`` days before it and after the version's training leads (its ``trained_until``).

    The leads come from what the daily runs stored (`scored_leads` of the champion stream, whichever
    version served them), so a new champion (promoted, rolled back to, or a shadow promoted) ranks
    among a warm pool from its first day, and a rerun of the day ranks among the same leads. These
    scores are computed here and never written: not to `predictions`, the outbox or `scored_leads`.
    ``role``: the shadow ranks the same leads with its own scores (a score does not depend on it)."""
    del role  # the pool is the champion stream's leads for either role, each scored by its own version
    if before is None or pd.isna(before):
        return np.empty(0)
    before = pd.Timestamp(before)
    start = before - pd.Timedelta(days=settings.warm_pool_days)
    trained = _trained_until(scoring)
    if trained is not None:  # the leads it learned from score in-sample: not what today's leads get
        start = max(start, trained + pd.Timedelta(microseconds=1))
    leads = production_leads(db, scoring.name, start, before, settings.policy_pool)
    if leads.empty:
        return np.empty(0)
    return pool_scores(settings, scoring, leads.drop(columns=[LABEL], errors="ignore"))


_POOL_SCORES: OrderedDict[tuple[str, str, str, str], dict[int, float]] = OrderedDict()


def pool_scores(settings: Settings, scoring: ScoringModel, leads: pd.DataFrame) -> NDArray[Any]:
    """The version's scores of the pool's leads, each lead's model input scored once per process.

    A registered version's score of a model-input row never changes, so a score is kept under the
    row's content hash: the day's score and monitor steps, and the next days of a process that
    scores several (a backfill, the replay), score only the leads new to the pool, and get exactly
    the scores a fresh process computes (a lead whose input changed has another hash). Only the
    current pool's rows are kept, for the last ``_LOADED_VERSIONS`` versions."""
    key = (settings.tracking_uri, scoring.name, str(scoring.version), scoring.run_id)
    known = _POOL_SCORES.get(key, {})
    hashes = pd.util.hash_pandas_object(leads, index=False).to_numpy()
    missing = np.fromiter((h not in known for h in hashes.tolist()), dtype=bool, count=len(hashes))
    if missing.any():
        fresh = scoring.scorer.predict_frame(leads[missing])["score"].to_numpy(dtype=float)
        known = {**known, **dict(zip(hashes[missing].tolist(), fresh.tolist(), strict=True))}
    scores = np.array([known[h] for h in hashes.tolist()], dtype=float)
    _POOL_SCORES[key] = {h: known[h] for h in hashes.tolist()}
    _POOL_SCORES.move_to_end(key)
    while len(_POOL_SCORES) > _LOADED_VERSIONS:
        _POOL_SCORES.popitem(last=False)
    return scores


def _trained_until(scoring: ScoringModel) -> pd.Timestamp | None:
    text = scoring.tags.get("trained_until") or ""
    try:
        found = pd.Timestamp(text) if text else None
    except ValueError:
        return None
    return None if found is None or pd.isna(found) else found


def day_share(
    db: StagingDatabase,
    settings: Settings,
    scoring: ScoringModel,
    scores: NDArray[Any],
    pool: NDArray[Any],
    before: object,
) -> ShareDecision:
    """The share the day flags (core.daily_share): from the outcomes known before ``before`` of the
    production leads of the last ``base_rate_days`` days (their served scores) and the unlabelled
    ``pool`` and batch ``scores``. The trained share when it cannot be chosen (the reason says why)."""
    policy = scoring.scorer.policy
    trained = float(policy.share) if policy is not None else float("nan")
    pooled = np.concatenate([np.asarray(pool, dtype=float), np.asarray(scores, dtype=float)])
    min_pool = policy.min_pool if policy is not None else 0
    if policy is None or before is None or pd.isna(before) or not settings.base_rate_days or len(pooled) < min_pool:
        why = "too few leads to rank among (or LEAD_SCORING_BASE_RATE_DAYS=0): the trained policy"
        return ShareDecision("trained", trained, trained, 0, None, None, None, None, why)
    before = pd.Timestamp(before)
    start = before - pd.Timedelta(days=settings.base_rate_days)
    served, labels = served_outcomes(db, scoring.name, start, before)
    rule = ShareRule(
        settings.target_precision,
        settings.target_recall,
        settings.share_margin,
        settings.min_labelled_leads,
        settings.base_rate_tolerance,
    )
    return choose_share(rule, trained, pooled, served, labels)


def flag_with_share(
    scoring: ScoringModel, predictions: pd.DataFrame, pool: NDArray[Any], decision: ShareDecision
) -> pd.DataFrame:
    """The batch's flags at the day's share (unchanged when the trained policy decides)."""
    if not decision.adapted or predictions.empty:
        return predictions
    scores = predictions["score"].to_numpy(dtype=float)
    cut = scoring.scorer.policy_cut(scores, pool, decision.share)
    return predictions.assign(predicted_label=(scores >= cut).astype("int64"))


def describe_decision(
    scoring: ScoringModel,
    predictions: pd.DataFrame,
    pool: NDArray[Any],
    before: object,
    decision: ShareDecision | None = None,
) -> str:
    """How the batch's flags were decided: ranked in the pool, or the model's reference cut and why;
    and the day's share with its reason."""
    scores = predictions["score"].to_numpy(dtype=float)
    policy = scoring.scorer.policy
    adapted = decision is not None and decision.adapted
    min_pool = policy.min_pool if policy is not None and (policy.kind == "rank" or adapted) else None
    share = decision.share if decision is not None and decision.adapted else None
    line = pool_line(len(pool), len(scores), min_pool, scoring.scorer.policy_cut(scores, pool, share), before)
    return line if decision is None else f"{line}; {decision.line()}"


def predict(
    settings: Settings,
    scoring: ScoringModel,
    model_input: pd.DataFrame,
    recent: NDArray[Any] | None = None,
    *,
    role: Role = CHAMPION_ROLE,
    production: bool = False,
) -> pd.DataFrame:
    """The scoring version's predictions for a model-input frame, as `predictions` rows (pure but for the model).

    ``predicted_label`` follows the model's decision policy; a rank policy ranks the batch among
    ``recent``, the point-in-time pool of the same version (see ``rank_pool``). The rows carry
    ``role``, ``production`` and each lead's ``created_date`` (see ``mark_stream``).
    """
    features = model_input.drop(columns=[LABEL], errors="ignore")
    # the scorer itself: the registered pyfunc of a newer version takes raw leads (the online path)
    output = scoring.scorer.predict_frame(features).reset_index(drop=True)
    if len(output) != len(features):
        raise RuntimeError(f"model returned {len(output)} rows for {len(features)} leads")
    output["predicted_label"] = scoring.scorer.labels(output["score"].to_numpy(), recent)
    predictions = build_predictions(
        features[LEAD_ID],
        output,
        model_name=scoring.name,
        model_version=scoring.version,
        scored_at=datetime.now(UTC).replace(tzinfo=None),
        hot_cutoff=settings.hot_cutoff,
        warm_cutoff=settings.warm_cutoff,
    )
    if CREATED_DATE not in model_input.columns:  # a bare frame (tests): no date to pool by
        return predictions
    return mark_stream(predictions, model_input, role, production)


def publish_online_cut(
    settings: Settings,
    scoring: ScoringModel,
    predictions: pd.DataFrame,
    recent: NDArray[Any] | None,
    decision: ShareDecision | None = None,
) -> float:
    """Tag the version with the cut this batch flagged at (``online_cut``): the served model labels with it.

    The cut is the policy's for this batch among ``recent``, exactly what ``predict`` applied; a
    served model reads it when it loads, so a lead scored online before the next batch gets the label
    this batch would have given it.
    """
    share = decision.share if decision is not None and decision.adapted else None
    cut = scoring.scorer.policy_cut(predictions["score"].to_numpy(dtype=float), recent, share)
    try:
        tags: dict[str, object] = {ONLINE_CUT_TAG: repr(float(cut)), f"{ONLINE_CUT_TAG}_at": now_utc()}
        set_version_tags(settings, scoring.version, tags)
    except Exception as exc:  # noqa: BLE001 - the batch's scores stand; only the online label's cut is stale
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("the online cut of v%s is not updated (the batch is scored): %s", scoring.version, first_line)
    return float(cut)


def summarise(
    run_key: str,
    source: str,
    scoring: ScoringModel,
    model_input: pd.DataFrame,
    predictions: pd.DataFrame,
    settings: Settings,
    drift_on: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    share: ShareDecision | None = None,
) -> ScoringSummary:
    """What one batch was: counts, buckets, thin evidence, and drift against the model's reference profile (pure).

    ``drift_on``: the model input and predictions drift is measured on, when not the batch alone
    (a daily run: the production leads of the drift window, the batch included).
    """
    drift_input, drift_predictions = drift_on if drift_on is not None else (model_input, predictions)
    profile = scoring.profile
    if profile is not None and share is not None and share.adapted:
        # the flags follow the base rate: the share to check is the one the day chose, so the
        # flagged-share alarm fires when the decision does not deliver it, not because it adapted
        profile = {**profile, "positive_rate": share.share}
    report = compare_with_reference(
        profile, drift_input, drift_predictions, settings.drift_limit, scoring.scorer.features
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
