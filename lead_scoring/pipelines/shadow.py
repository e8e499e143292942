"""The feedback run's shadow check: the challenger that scored beside the champion, judged on the same
labelled leads, promoted or reported as ``LEAD_SCORING_SHADOW_ACTION`` says."""

from __future__ import annotations

import logging

import pandas as pd

from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.feedback import out_of_sample
from lead_scoring.core.shadow import ShadowVerdict, compare_on_same_leads
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID, PREDICTIONS
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

SHADOW_COMPARISON = "shadow_comparison"  # one row: the latest shadow-vs-champion figures


def shadow_step(settings: Settings, outcomes: pd.DataFrame | None) -> ShadowVerdict | None:
    """Compare the registry's challenger (as shadow) with its champion on their common labelled leads;
    act as the settings say. None: no challenger other than the champion, or it scored nothing yet."""
    champion = registry.version_by_alias(settings, registry.CHAMPION)
    challenger = registry.version_by_alias(settings, registry.CHALLENGER)
    if champion is None or challenger is None or champion.version == challenger.version or outcomes is None:
        return None
    with StagingDatabase(settings.db_url) as db:
        predictions = db.read_table(PREDICTIONS)
        predictions = predictions[predictions["model_name"] == settings.model_name]
        if CREATED_DATE in predictions.columns:  # neither side judged on leads it was trained on
            predictions = out_of_sample(predictions, registry.training_cutoffs(settings))
        scored = predictions.merge(outcomes[[LEAD_ID, LABEL]], on=LEAD_ID, how="left")
        verdict = compare_on_same_leads(
            scored, champion.version, challenger.version, settings.feedback.shadow_min_leads
        )
        if verdict.leads == 0:
            return None
        db.replace_tables({SHADOW_COMPARISON: pd.DataFrame([verdict.row()])}, run_key_for("shadow"))
    log.info("%s", verdict.line())
    if verdict.status == "shadow_better":
        if settings.feedback.shadow_action == "promote":
            registry.move_champion(settings, challenger.version, reason=f"shadow: {verdict.line()}")
            registry.settle_challenger(settings, challenger.version, promoted=True)
        else:
            log.warning("shadow v%s beats the champion (promote it by hand): %s", challenger.version, verdict.line())
    return verdict
