"""The decision policy, pure: which leads get ``predicted_label`` 1, chosen on monthly backtests.

The score ranks leads; the policy turns it into a flag. Three kinds are compared on the backtest
months of every training run (each month scored by a model fitted only on the leads before it):

- ``validation``: the rule the project started with: the most precise cut whose recall on the
  newest validation leads is at least the recall target plus a margin, as an absolute score.
- ``balanced``: one absolute cut for every month, the one whose worst month has the most slack to
  both targets (the larger of the smaller of ``precision - target`` and ``recall - target``).
- ``rank``: flag the top ``share`` of leads. The share is chosen like the balanced cut, and
  applied to the distribution of recently scored leads (the batch and the version's latest
  predictions, once there are ``min_pool`` of them), so a shift of the whole score scale (a refit
  on more data, a change of traffic that moves every score) does not move the flagged share. With
  fewer leads (a daily batch of a hundred is a noisy quantile) the reference cut applies: the
  share's quantile of the final model's scores on its newest training leads.

The winner is the kind whose worst backtest month has the most slack to both targets.

**The base rate.** Fewer conversions cost precision at a fixed share (precision = base rate x recall /
flagged share). Given the realized base rate of the latest labelled weeks, every backtest month is
reweighted to it before the search (a label-shift, or prior-shift, adjustment: each converted lead
counts ``rate / month rate``, each other lead ``(1 - rate) / (1 - month rate)``; the scores of
either class are assumed to keep their distribution). The share or cut is then the one the
targets call for at today's rate; with a steady rate the weights are 1 and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

PolicyKind = Literal["validation", "balanced", "rank"]
POLICY_KINDS: tuple[PolicyKind, ...] = ("rank", "balanced", "validation")  # ties go to the earlier kind
MIN_POOL = 1000  # leads a rank cut needs before it trusts their quantile over the reference cut
_GRID = np.round(np.arange(0.01, 1.0, 0.005), 3)  # cuts and shares searched


@dataclass(frozen=True)
class DecisionPolicy:
    """How scores become flags. ``cut`` applies when there is no distribution to rank against."""

    kind: PolicyKind
    cut: float  # reference cut: an absolute score
    share: float  # the flagged share the policy expects on leads like its reference leads (NaN: unknown)
    min_pool: int = MIN_POOL

    def __post_init__(self) -> None:
        if self.kind not in POLICY_KINDS:
            raise ValueError(f"unknown policy kind {self.kind!r}")
        if not 0.0 <= self.cut <= 1.0 or not (0.0 <= self.share <= 1.0 or np.isnan(self.share)):
            raise ValueError(f"policy cut {self.cut} and share {self.share} must lie in [0, 1]")

    def cut_for(self, scores: NDArray[Any], recent: NDArray[Any] | None = None, share: float | None = None) -> float:
        """The score cut for a batch: for ``rank``, the share's quantile of the pooled scores when enough.

        ``share``: the day's share (core.daily_share), which replaces the trained one for any kind
        once enough leads are pooled to rank among."""
        if self.kind != "rank" and share is None:
            return self.cut
        pool = np.asarray(scores, dtype=float)
        if recent is not None and len(recent):
            pool = np.concatenate([pool, np.asarray(recent, dtype=float)])
        if len(pool) < self.min_pool:
            return self.cut
        return rank_cut(pool, self.share if share is None else share)

    def labels(self, scores: NDArray[Any], recent: NDArray[Any] | None = None) -> NDArray[Any]:
        scores = np.asarray(scores, dtype=float)
        return (scores >= self.cut_for(scores, recent)).astype("int64")

    def describe(self) -> str:
        if self.kind == "rank":
            return (
                f"rank: flag the top {self.share:.1%} of recently scored leads "
                f"(reference cut {self.cut:.3f} until {self.min_pool} leads are pooled)"
            )
        name = "balanced cut" if self.kind == "balanced" else "validation rule"
        return f"{name}: flag a score >= {self.cut:.3f} (expected share {self.share:.1%})"

    def as_params(self) -> dict[str, str | float | int]:
        return {
            "policy": self.kind,
            "policy_cut": self.cut,
            "policy_share": self.share,
            "policy_min_pool": self.min_pool,
        }


def daily_labels(policy: DecisionPolicy, scores: NDArray[Any], days: NDArray[Any], pool: int) -> NDArray[Any]:
    """0/1 per lead as daily scoring runs set them: each day's leads ranked among the latest ``pool``
    scores of the days before it (what `predictions` holds), oldest day first."""
    scores = np.asarray(scores, dtype=float)
    days = np.asarray(days)
    labels = np.zeros(len(scores), dtype="int64")
    history = np.empty(0)
    for day in np.unique(days):
        members = np.flatnonzero(days == day)
        recent = history[-pool:] if pool > 0 else None
        labels[members] = policy.labels(scores[members], recent)
        history = np.concatenate([history, scores[members]])
    return labels


def rank_cut(scores: NDArray[Any], share: float) -> float:
    """The cut that flags the top ``share`` of ``scores`` (ties at the cut are flagged too)."""
    scores = np.asarray(scores, dtype=float)
    if not len(scores):
        raise ValueError("no scores to rank")
    return float(np.quantile(scores, 1.0 - share, method="higher"))


@dataclass(frozen=True)
class BacktestMonth:
    """One rolling-origin fold: a month scored by a model fitted on every lead before it."""

    month: str  # YYYY-MM
    labels: NDArray[Any] = field(repr=False)
    scores: NDArray[Any] = field(repr=False)
    validation_cut: float  # the validation rule's cut, chosen on the fold model's own validation leads
    weights: tuple[float, float] = (1.0, 1.0)  # of a converted and of an unconverted lead (label shift)

    def reweighted(self, base_rate: float) -> BacktestMonth:
        """The month as it would look with ``base_rate`` conversions (each class's scores kept)."""
        rate = float(np.mean(self.labels)) if len(self.labels) else 0.0
        if not 0.0 < rate < 1.0 or not 0.0 < base_rate < 1.0:
            return self
        weights = (base_rate / rate, (1.0 - base_rate) / (1.0 - rate))
        return BacktestMonth(self.month, self.labels, self.scores, self.validation_cut, weights)

    def rank_cut(self, share: float) -> float:
        """The cut that flags the top ``share`` of the month's leads, counted with their weights."""
        if self.weights == (1.0, 1.0):
            return rank_cut(self.scores, share)
        scores = np.asarray(self.scores, dtype=float)
        order = np.argsort(-scores, kind="stable")
        mass = np.where(np.asarray(self.labels)[order] == 1, self.weights[0], self.weights[1]).cumsum()
        position = min(int(np.searchsorted(mass, share * mass[-1], side="left")), len(order) - 1)
        return float(scores[order][position])

    @property
    def leads(self) -> int:
        return len(self.labels)

    @cached_property
    def curve(self) -> tuple[NDArray[Any], NDArray[Any], float]:
        """Scores ascending, the converted leads at or above each position (one more: 0), and the AUC."""
        from sklearn.metrics import roc_auc_score

        labels = np.asarray(self.labels).astype(int)
        scores = np.asarray(self.scores, dtype=float)
        order = np.argsort(scores, kind="stable")
        positives_from = np.concatenate([np.cumsum(labels[order][::-1])[::-1], [0]])
        auc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")
        return scores[order], positives_from, auc


@dataclass(frozen=True)
class MonthResult:
    month: str
    leads: int
    base_rate: float
    auc: float
    precision: float
    recall: float
    flagged_share: float
    cut: float


@dataclass(frozen=True)
class Candidate:
    """One policy kind with its parameter chosen on the backtests, and how it did month by month."""

    kind: PolicyKind
    parameter: float  # the cut (validation, balanced) or the share (rank); NaN for validation
    months: tuple[MonthResult, ...]
    worst_slack: float  # min over months of min(precision - target, recall - target)


@dataclass(frozen=True)
class PolicyChoice:
    chosen: Candidate
    candidates: tuple[Candidate, ...]
    reason: str


def month_result(month: BacktestMonth, cut: float) -> MonthResult:
    """A month's figures when the leads scoring at least ``cut`` are flagged.

    The policy search asks this of every month for hundreds of cuts: the month's scores are sorted
    once (``BacktestMonth.curve``), so each cut costs a binary search, not a pass over the leads.
    """
    ordered, positives_from, auc = month.curve
    leads = len(ordered)
    first = int(np.searchsorted(ordered, cut, side="left"))  # the lowest score >= cut
    flagged, tp, positives = leads - first, int(positives_from[first]), int(positives_from[0])
    w1, w0 = month.weights  # 1 and 1 unless the month is reweighted to another base rate
    flagged_mass, total = w1 * tp + w0 * (flagged - tp), w1 * positives + w0 * (leads - positives)
    return MonthResult(
        month=month.month,
        leads=leads,
        base_rate=w1 * positives / total if leads else 0.0,
        auc=auc,
        precision=w1 * tp / flagged_mass if flagged else 0.0,
        recall=tp / positives if positives else 0.0,
        flagged_share=flagged_mass / total if leads else 0.0,
        cut=float(cut),
    )


def slack(result: MonthResult, target_precision: float, target_recall: float) -> float:
    """How far a month clears the nearer of the two targets (negative: it misses one)."""
    return min(result.precision - target_precision, result.recall - target_recall)


def choose_policy(
    months: Sequence[BacktestMonth], target_precision: float, target_recall: float, base_rate: float | None = None
) -> PolicyChoice:
    """Each kind with its best parameter on the backtest months; the one whose worst month has most slack.

    ``base_rate``: the realized base rate of the latest labelled weeks; every month is reweighted to
    it first (see the module's note on the base rate). None: the months as they were.
    """
    if not months:
        raise ValueError("no backtest months to choose a policy on")
    if base_rate is not None:
        months = [month.reweighted(base_rate) for month in months]

    def evaluate(kind: PolicyKind, parameter: float) -> Candidate:
        results = []
        for month in months:
            if kind == "validation":
                cut = month.validation_cut
            elif kind == "balanced":
                cut = parameter
            else:
                cut = month.rank_cut(parameter)
            results.append(month_result(month, cut))
        worst = min(slack(r, target_precision, target_recall) for r in results)
        return Candidate(kind, parameter, tuple(results), worst)

    def best(kind: PolicyKind) -> Candidate:
        # the grid's best worst-month slack; among equals, the middle of the best stretch (farthest from its edges)
        scored = [evaluate(kind, float(p)) for p in _GRID]
        top = max(c.worst_slack for c in scored)
        winners = [c for c in scored if c.worst_slack >= top - 1e-12]
        return winners[len(winners) // 2]

    candidates = (best("rank"), best("balanced"), evaluate("validation", float("nan")))
    chosen = max(candidates, key=lambda c: c.worst_slack)  # first of equals: POLICY_KINDS order
    others = ", ".join(f"{c.kind} {c.worst_slack:+.3f}" for c in candidates if c is not chosen)
    reason = f"{chosen.kind}: worst backtest month slack {chosen.worst_slack:+.3f} to the targets (vs {others})"
    if base_rate is not None:
        reason += f"; months reweighted to the recent base rate {base_rate:.3f}"
    return PolicyChoice(chosen, candidates, reason)


def backtest_table(choice: PolicyChoice) -> list[dict[str, object]]:
    """One row per candidate kind and month (the run's table artifact), the chosen kind marked."""
    return [
        {
            "policy": candidate.kind,
            "chosen": candidate is choice.chosen,
            "parameter": candidate.parameter,
            "month": result.month,
            "leads": result.leads,
            "base_rate": round(result.base_rate, 4),
            "auc": round(result.auc, 4),
            "precision": round(result.precision, 4),
            "recall": round(result.recall, 4),
            "flagged_share": round(result.flagged_share, 4),
            "cut": round(result.cut, 4),
        }
        for candidate in choice.candidates
        for result in candidate.months
    ]


def backtest_metrics(choice: PolicyChoice) -> dict[str, float]:
    """The chosen policy's figures per month (``backtest_YYYY_MM_*``) and its worst month (``backtest_min_*``)."""
    metrics: dict[str, float] = {}
    months = choice.chosen.months
    for result in months:
        prefix = "backtest_" + result.month.replace("-", "_")
        for name in ("auc", "precision", "recall", "base_rate", "flagged_share"):
            metrics[f"{prefix}_{name}"] = float(getattr(result, name))
    for name in ("auc", "precision", "recall"):
        metrics[f"backtest_min_{name}"] = float(min(getattr(r, name) for r in months))
    metrics["backtest_months"] = float(len(months))
    metrics["backtest_worst_slack"] = float(choice.chosen.worst_slack)
    return metrics
