"""Drift monitoring, pure: the reference profile saved with a model, and a batch compared with it.

Population stability index per feature: sum over bins of (actual - expected) * ln(actual / expected).
Rule of thumb: < 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 the population has changed.

Three guards keep small batches from crying wolf: categorical levels rarer than ``POOL_BELOW`` of
the training leads are pooled into one bin; a bin the reference fills but a small batch leaves
empty counts as half a lead, not a share of zero (whose logarithm passes any limit); and a batch
of n leads over k bins is allowed the PSI sampling alone exceeds once in a thousand batches
(chi-square, k - 1 degrees of freedom, over n). The daily DAG measures a day on the production
leads of a week (``drift_window_days``), not the day alone.

A third check needs no labels either: the share of the batch the decision policy actually flagged
against the share it means to flag. A shift of the whole score scale (the
leads look alike feature by feature, but the model scores them all higher) shows here first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core.evidence import MISSING_CITY, NO_INTERACTIONS, unseen_kind, unusual_inputs
from lead_scoring.core.features import CATEGORICAL_FEATURES, MISSING, NUMERIC_FEATURES, OTHER, LeadFeatures
from lead_scoring.core.policy import DecisionPolicy
from lead_scoring.schema import CITY, CREATED_DATE

_EPSILON = 1e-4
POOL_BELOW = 0.05
SCORE_EDGES = [float(x) for x in np.linspace(0.0, 1.0, 11)]
SHARE_SIGMAS = 4.0  # the flagged-share alarm, in binomial standard deviations (see share_tolerance)
SHARE_FLOOR = 0.05
THIN_KEYS = (MISSING_CITY, NO_INTERACTIONS)
REFERENCE_DAYS = 28  # the reference profile describes the newest four weeks of training leads...
REFERENCE_LEADS = 1000  # ...or the newest this many, when four weeks hold fewer
ALLOWANCE_QUANTILE = 0.999  # a batch like the reference passes the PSI limit by chance once in 1,000 checks


def build_reference_profile(
    model_input: pd.DataFrame, features: LeadFeatures, reference_scores: NDArray[Any], policy: DecisionPolicy
) -> dict[str, Any]:
    """Per-feature distributions of the newest training leads (``newest_leads``), the reference score
    distribution and the share of leads the decision policy expects to flag at its reference cut."""
    transformed = features.transform(newest_leads(model_input))
    profile: dict[str, Any] = {"features": {}, "threshold": float(policy.cut)}
    for col in NUMERIC_FEATURES:
        values = transformed[col].fillna(0.0)
        inner = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        edges = [-np.inf, *inner.tolist(), np.inf]
        profile["features"][col] = {"kind": "numeric", "edges": _jsonable(edges), "shares": _binned(values, edges)}
    for col in (c for c in CATEGORICAL_FEATURES if c in transformed.columns):  # a recipe may drop the raw city
        shares = transformed[col].astype(str).value_counts(normalize=True)
        profile["features"][col] = {"kind": "categorical", "shares": {k: float(v) for k, v in shares.items()}}
    scores = np.asarray(reference_scores, dtype=float)
    profile["scores"] = {"edges": SCORE_EDGES, "shares": _binned(pd.Series(scores), SCORE_EDGES)}
    profile["positive_rate"] = float(policy.share)
    # shares of training leads the model meets on thin evidence, for the scoring summary to compare with
    counts = unusual_inputs(model_input, {})
    profile["thin_evidence"] = {key: counts[key] / max(len(model_input), 1) for key in THIN_KEYS if key in counts}
    return profile


def newest_leads(model_input: pd.DataFrame) -> pd.DataFrame:
    """The training leads of the last ``REFERENCE_DAYS`` days (at least the newest ``REFERENCE_LEADS``):
    the traffic the model learned last. Live traffic is compared with it, so an alarm raised by a
    change of traffic stays quiet once a model trained on the new traffic serves (against all the
    training leads, months of the old traffic would still outweigh it)."""
    if CREATED_DATE not in model_input.columns or len(model_input) <= REFERENCE_LEADS:
        return model_input
    created = pd.to_datetime(model_input[CREATED_DATE])
    recent = created >= created.max() - pd.Timedelta(days=REFERENCE_DAYS)
    if recent.sum() >= REFERENCE_LEADS:
        return model_input[recent.to_numpy()]
    return model_input.iloc[np.argsort(created.to_numpy(), kind="stable")[-REFERENCE_LEADS:]]


def thin_evidence_reference(profile: dict[str, Any] | None) -> dict[str, float]:
    """The training share of each kind of thin evidence `unusual_inputs` counts: no interactions and
    no city (saved in the profile), a rare or new level (the share the model pooled as other)."""
    if not profile:
        return {}
    reference = {unseen_kind(col): float(ref["shares"].get(OTHER, 0.0))
                 for col, ref in profile["features"].items() if ref["kind"] == "categorical"}  # fmt: skip
    city = profile["features"].get(CITY, {}).get("shares", {})
    if MISSING in city:
        reference[MISSING_CITY] = float(city[MISSING])
    reference.update({key: float(value) for key, value in profile.get("thin_evidence", {}).items()})
    return reference


def unusual_against_training(
    counts: Mapping[str, int], leads: int, reference: Mapping[str, float]
) -> dict[str, dict[str, float | None]]:
    """The kinds of thin evidence whose share of the batch clearly exceeds their share of the training
    leads (by more than ``share_tolerance``), with the count and both shares. A kind the reference
    does not know (a model saved before the profile kept it) is reported whenever it occurs."""
    unusual: dict[str, dict[str, float | None]] = {}
    for key, count in counts.items():
        if not count or not leads:
            continue
        share = count / leads
        expected = reference.get(key)
        if expected is None or share > expected + share_tolerance(expected, leads):
            unusual[key] = {"count": int(count), "share": round(share, 4), "training_share": expected}
    return unusual


def share_tolerance(expected: float, leads: int) -> float:
    """How far a batch's share at the reference cut may stray from the expected share before it alarms.

    ``SHARE_SIGMAS`` binomial standard deviations for the batch size: real days are not independent
    draws (on the Oct-Dec 2021 leads, daily shares spread 1.2-1.5x as wide as binomial, the widest
    day 3.7 deviations out), so 4 rather than the textbook 3. Never less than ``SHARE_FLOOR``: on
    thousands of leads a few points is a refit's rescaling, not a change worth a page.
    """
    p = min(max(expected, 0.0), 1.0)
    return max(SHARE_FLOOR, SHARE_SIGMAS * float(np.sqrt(p * (1.0 - p) / max(leads, 1))))


def flagged_share_check(scores: NDArray[Any], cut: float, expected: float) -> tuple[float, float, bool]:
    """The batch's share at or above the reference cut, the tolerance, and whether it is outside it."""
    scores = np.asarray(scores, dtype=float)
    observed = float((scores >= cut).mean()) if len(scores) else 0.0
    tolerance = share_tolerance(expected, len(scores))
    return observed, tolerance, bool(len(scores)) and abs(observed - expected) > tolerance


def population_stability_index(expected: list[float], actual: list[float]) -> float:
    e = np.clip(np.asarray(expected, dtype=float), _EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(reference: dict[str, Any], values: pd.Series) -> tuple[float, int]:
    """PSI of one feature of a batch against its reference entry, and the number of bins it used."""
    if reference["kind"] == "numeric":
        edges = [float(x) for x in reference["edges"]]
        observed = _binned(values.fillna(0.0), edges)
        return population_stability_index(reference["shares"], half_lead(reference["shares"], observed, len(values))), (
            len(edges) - 1
        )
    levels = [k for k, share in reference["shares"].items() if share >= POOL_BELOW]
    actual = values.astype(str).value_counts(normalize=True)
    expected = [reference["shares"][k] for k in levels]
    shares = [float(actual.get(k, 0.0)) for k in levels]
    expected.append(max(0.0, 1.0 - sum(expected)))  # the pooled rare, other, and never-seen levels
    shares.append(max(0.0, 1.0 - sum(shares)))
    return population_stability_index(expected, half_lead(expected, shares, len(values))), len(expected)


def half_lead(expected: list[float], observed: list[float], leads: int) -> list[float]:
    """A batch's shares where a bin the reference fills is empty counted as half a lead (at most its
    expected share): a small batch leaves a 5% bin empty often, and a share of zero (its logarithm)
    alone would pass any PSI limit."""
    if leads <= 0:
        return observed
    half = 0.5 / leads
    return [min(e, half) if o == 0.0 and e > 0.0 else o for e, o in zip(expected, observed, strict=True)]


def sampling_allowance(bins: int, leads: int) -> float:
    """PSI a batch of ``leads`` like the reference shows over ``bins`` bins by chance: n x PSI is about
    chi-square with bins - 1 degrees of freedom; its ``ALLOWANCE_QUANTILE`` quantile over n."""
    if bins <= 1:
        return 0.0
    from scipy.stats import chi2

    return float(chi2.ppf(ALLOWANCE_QUANTILE, bins - 1)) / max(leads, 1)


DriftStatus = Literal["ok", "drifted", "no_reference", "no_leads"]


@dataclass(frozen=True)
class DriftReport:
    """A batch against the reference profile saved with its model (``compare_with_reference``)."""

    status: DriftStatus
    positive_share: float  # share of the batch flagged by the decision policy
    summary: str  # one line for a person
    expected_positive_share: float | None = None  # the share the policy expects (NaN: a model from before policies)
    share_at_reference_cut: float | None = None  # None: no expected share to check against
    share_tolerance: float | None = None
    score_psi: float | None = None
    feature_psi: Mapping[str, float] = field(default_factory=dict)
    max_feature_psi: float | None = None
    drifted_features: tuple[str, ...] = ()

    def metrics(self) -> dict[str, float | None]:
        """The report's figures by name, as `scoring_runs` and the MLflow scoring run keep them."""
        return {
            "positive_share": self.positive_share,
            "expected_positive_share": self.expected_positive_share,
            "share_at_reference_cut": self.share_at_reference_cut,
            "share_tolerance": self.share_tolerance,
            "score_psi": self.score_psi,
            "max_feature_psi": self.max_feature_psi,
        }


def compare_with_reference(
    profile: dict[str, Any] | None,
    model_input: pd.DataFrame,
    predictions: pd.DataFrame,
    limit: float,
    features: LeadFeatures | None = None,
) -> DriftReport:
    """The batch's positive share, score PSI and per-feature PSI; status ``drifted`` past ``limit``."""
    positive_share = float(predictions["predicted_label"].mean()) if len(predictions) else 0.0
    if profile is None or len(model_input) == 0:
        status: DriftStatus = "no_reference" if profile is None else "no_leads"
        return DriftReport(status, positive_share, summary=status.replace("_", " "))
    transformed = features.transform(model_input) if features is not None else model_input
    leads = len(model_input)
    psi: dict[str, float] = {}
    drifted: list[str] = []
    for col, ref in profile["features"].items():
        if col in transformed.columns:
            value, bins = feature_psi(ref, transformed[col])
            psi[col] = round(value, 4)
            if value > limit + sampling_allowance(bins, leads):
                drifted.append(col)
    scored = len(predictions)  # the scores may come from fewer leads than the features (a new version)
    score_psi = population_stability_index(
        profile["scores"]["shares"],
        half_lead(
            profile["scores"]["shares"], _binned(predictions["score"].astype(float), profile["scores"]["edges"]), scored
        ),
    )
    if scored and score_psi > limit + sampling_allowance(len(profile["scores"]["shares"]), scored):
        drifted.append("score")
    expected_share = profile.get("positive_rate")
    share_at_cut = tolerance = None
    if expected_share is not None and not np.isnan(expected_share) and "threshold" in profile:
        share_at_cut = round(float((predictions["score"].to_numpy(dtype=float) >= profile["threshold"]).mean()), 4)
        # the share the policy ACTUALLY flagged against the share it means to flag
        tolerance = round(share_tolerance(expected_share, scored), 4)
        if scored and abs(positive_share - expected_share) > tolerance:
            drifted.append("flagged share")
    worst = max(psi, key=lambda col: psi[col]) if psi else None
    largest = psi[worst] if worst is not None else 0.0
    summary = f"drift in {', '.join(drifted)}" if drifted else f"largest feature PSI {largest:.3f} ({worst})"
    moved = [f"{col} PSI {psi[col]:.3f}" for col in drifted if col in psi]
    if "score" in drifted:
        moved.append(f"score PSI {score_psi:.3f}")
    if "flagged share" in drifted:
        moved.append(f"{positive_share:.1%} flagged, the policy flags {expected_share:.1%} +/- {tolerance:.1%}")
    if moved:
        summary += f" ({'; '.join(moved)}; limit {limit:g} + sampling allowance, {leads:,} leads)"
    return DriftReport(
        status="drifted" if drifted else "ok",
        positive_share=positive_share,
        summary=summary,
        expected_positive_share=expected_share,
        share_at_reference_cut=share_at_cut,
        share_tolerance=tolerance,
        score_psi=round(score_psi, 4),
        feature_psi=psi,
        max_feature_psi=max(psi.values()) if psi else 0.0,
        drifted_features=tuple(drifted),
    )


def known_levels(profile: dict[str, Any] | None) -> dict[str, set[str]]:
    """The categorical levels the model learned, per feature (the other/missing buckets excluded)."""
    if not profile:
        return {}
    return {
        col: {level for level in ref["shares"] if level not in (OTHER, MISSING)}
        for col, ref in profile["features"].items()
        if ref["kind"] == "categorical"
    }


def _binned(values: pd.Series, edges: list[float]) -> list[float]:
    """Share of values per bin; the outer edges are open (a value past them lands in the end bin)."""
    interior = np.asarray([float(e) for e in edges[1:-1]], dtype=float)
    bins = np.searchsorted(interior, np.asarray(values, dtype=float), side="right")
    counts = np.bincount(bins, minlength=len(edges) - 1)
    total = counts.sum()
    return [float(c) / total if total else 0.0 for c in counts]


def _jsonable(edges: list[float]) -> list[float | str]:
    return [e if np.isfinite(e) else ("-inf" if e < 0 else "inf") for e in edges]
