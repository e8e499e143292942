"""The promotion gate of the training pipeline: the candidate against the serving champion, like with like.

The training run saves the leads of the comparison (``promotion/leads.csv``: the validation leads
newer than the champion's training data, their model input, and the scores and flags of the
candidate's recipe refitted to the champion's cut-off). The promote step scores those same saved
leads with the champion and hands both sides to :func:`~lead_scoring.core.training.decide_promotion`:
it never reads `model_input`, which a data run may have replaced since the training run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.core.fitting import classification_metrics
from lead_scoring.core.training import Comparison, decide_promotion
from lead_scoring.errors import ModelNotFoundError
from lead_scoring.schema import CREATED_DATE, LABEL, LEAD_ID
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

COMPARISON_PATH = "promotion/leads.csv"
COMPARED_WITH = "compared_with"  # run tag: the champion version the run's comparison leads were chosen for
FIGURES = ("auc", "precision", "recall")


@dataclass(frozen=True)
class PromotionOutcome:
    """The gate's decision on a version (the promote task's XCom, as a dict)."""

    version: str
    promoted: bool
    reasons: tuple[str, ...]

    @property
    def decision(self) -> str:
        return "promoted" if self.promoted else "rejected"


def promote_step(
    settings: Settings, version: str, *, force: bool = False, reason: str | None = None
) -> PromotionOutcome:
    """The gate: champion when no worse than the serving champion on the same leads (see ``decide_promotion``).
    A version not promoted stays the `challenger`. A version the gate already decided on (a rerun of
    its training run) keeps that decision (``recorded_outcome``): an old run rerun after a newer
    champion took over never moves the alias back; ``force`` decides again."""
    track = tracking(settings)
    candidate_version = track.versions.version(str(version))
    if candidate_version is None:
        raise ModelNotFoundError(f"'{settings.model_name}' has no version {version}")
    recorded = None if force else recorded_outcome(candidate_version)
    if recorded is not None:  # a rerun of the training run: decided as it was, whatever serves now
        log.info("version %s was already %s by the gate: not decided again", version, recorded.decision)
        return recorded
    metrics = track.store.run(candidate_version.run_id).metrics
    candidate = {k: metrics[f"valid_{k}"] for k in FIGURES}
    worst_month = None
    if "backtest_min_auc" in metrics:
        worst_month = {k: metrics[f"backtest_min_{k}"] for k in FIGURES}
        worst_month["months"] = metrics.get("backtest_months", 0)
    current = registry.version_by_alias(settings, registry.CHAMPION)
    champion = current.version if current is not None and current.version != str(version) else None
    comparison, why = (None, "") if champion is None else saved_comparison(settings, candidate_version, champion)
    targets = settings.targets
    decision = decide_promotion(
        candidate, comparison, targets, settings.promotion_tolerance, worst_month, champion=champion, no_comparison=why
    )
    reasons = list(decision.reasons)
    promote = decision.promote or force
    if force and not decision.promote:
        reasons.append(f"FORCED by {registry.actor()}: {reason or 'no reason given'}")
    if decision.promote and any(r.startswith("PROMOTED ALTHOUGH") for r in reasons):
        log.warning("version %s: %s", version, reasons[-1])
    registry.set_version_tags(
        settings,
        str(version),
        {
            "promotion_decision": "promoted" if promote else "rejected",
            "promotion_reasons": "; ".join(reasons),
            "decided_at": registry.now_utc(),
        },
    )
    if promote and (current is None or current.version != str(version)):
        registry.move_champion(
            settings,
            str(version),
            reason=(reason or "; ".join(decision.reasons))[: registry.MAX_REASON_CHARS],
            kind="force" if force and not decision.promote else "promote",
        )
    registry.settle_challenger(settings, str(version), promote)
    return PromotionOutcome(version=str(version), promoted=promote, reasons=tuple(reasons))


def recorded_outcome(facts: VersionFacts) -> PromotionOutcome | None:
    """The gate's decision already taken on a version (its tags), when it was carried out: a rejection,
    or a promotion that moved `champion` (``promoted_at``). None: never decided, or a promotion whose
    move did not happen (the rerun decides again)."""
    decision = facts.tags.get("promotion_decision")
    if decision == "rejected" or (decision == "promoted" and facts.tags.get("promoted_at")):
        reasons = tuple(r for r in facts.tags.get("promotion_reasons", "").split("; ") if r)
        return PromotionOutcome(version=str(facts.version), promoted=decision == "promoted", reasons=reasons)
    return None


def saved_comparison(
    settings: Settings, candidate_version: VersionFacts, champion_version: str
) -> tuple[Comparison | None, str]:
    """The champion scored on the leads the candidate's run saved for it; None and why when there are none."""
    track = tracking(settings)
    run = track.store.run(candidate_version.run_id)
    recorded = run.tags.get(COMPARED_WITH, "")
    if not recorded:
        return None, "the training run found no champion, or too few leads newer than its training data"
    if recorded != champion_version:
        return None, f"the run compared itself with v{recorded}, and v{champion_version} serves now"
    if not track.versions.model_artifacts_present(champion_version):
        return None, f"the model artifacts of champion v{champion_version} are gone"
    leads = track.store.load_csv(
        candidate_version.run_id, COMPARISON_PATH, parse_dates=[CREATED_DATE], dtype={LEAD_ID: str}
    )
    champion = registry.load_scoring_model(settings, champion_version)
    scores = champion.scorer.predict_proba(leads)
    labels = leads[LABEL].to_numpy()
    ours = classification_metrics(labels, leads["candidate_flag"].to_numpy(dtype=float), 0.5)  # the flags as set
    ours["auc"] = classification_metrics(labels, leads["candidate_score"].to_numpy(), 0.5)["auc"]  # from the scores
    theirs = classification_metrics(labels, scores, champion.scorer.policy_cut(scores))
    comparison = Comparison(
        champion_version=champion_version,
        cutoff=run.tags.get("compared_cutoff", ""),
        leads=len(leads),
        first=str(leads[CREATED_DATE].min()),
        last=str(leads[CREATED_DATE].max()),
        candidate={k: float(ours[k]) for k in FIGURES},
        champion={k: float(theirs[k]) for k in FIGURES},
    )
    return comparison, ""


def comparison_cutoff(settings: Settings) -> tuple[str, pd.Timestamp] | None:
    """The serving champion and its training cut-off, which a training run compares itself at."""
    current = registry.version_by_alias(settings, registry.CHAMPION)
    if current is None or not current.tags.get("trained_until"):
        return None
    return current.version, pd.Timestamp(current.tags["trained_until"])
