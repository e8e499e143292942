"""The share of leads flagged today, pure: it follows the base rate, chosen from what is known that day.

Precision = base rate x recall / flagged share: flagging the same share when fewer leads convert
costs precision. Each day the share is chosen again from two kinds of evidence:

1. **Recent outcomes** (the labels known that day, however late they came): the scores the
   champion gave those leads when it served them, with their labels, refresh the calibration (a
   Platt fit, ``label ~ a * logit(score) + b``), so a score becomes a probability at the labelled
   leads' conversion rate.
2. **Recent unlabelled scores** (the rank pool and the day's batch): their base rate is estimated
   by the EM re-estimation of class priors (Saerens, Latinne and Decaestecker, 2002): the
   calibrated probabilities are adjusted to a candidate prior, the prior becomes their mean, until
   it settles. A drop in conversions is seen before its labels arrive.
3. **The two must agree.** EM reads every move of the scores as a move of the base rate, and
   amplifies it (a model of AUC 0.8 separates the classes' mean scores by about 0.3, so a score
   level 0.04 lower reads as 0.13 fewer conversions). A change of traffic that lowers scores
   without lowering conversions (a new platform level, a version whose scale differs from the
   one that served the labelled leads) breaks the label-shift assumption. So the estimate is
   followed only within ``tolerance`` of the realized rate of the labelled leads; farther, the
   day follows the realized rate (labels do not lie, they are late) and says they disagree: the
   alarm's case, the decision cannot adapt on the estimate.

With the adjusted probabilities of the pooled leads, every share has an expected precision (the
mean probability of the flagged leads) and recall (their share of the expected conversions). The
share chosen is the one with the most room to both targets (the largest
``min(E[precision] - target, E[recall] - target)``): the middle of the shares that meet both, as
far from either edge as the estimates allow, for both estimates err. The day says whether that room
is at least the margin. No constant is fitted to any month: the targets and the margin come from
the settings.

Too few labelled leads (or one class only) to calibrate: the day keeps the share chosen at training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

ShareStatus = Literal["adapted", "trained"]
_SHARES = np.round(np.arange(0.05, 0.951, 0.005), 3)  # the shares searched
_EPS = 1e-6


@dataclass(frozen=True)
class ShareRule:
    """The targets, the room to them the day calls a margin, and the evidence needed."""

    target_precision: float
    target_recall: float
    margin: float
    min_labelled: int
    tolerance: float = 0.05  # the largest gap between the EM estimate and the labelled rate believed


@dataclass(frozen=True)
class ShareDecision:
    """The share flagged today and why (logged on the scoring run and in the daily line)."""

    status: ShareStatus
    share: float  # the share of the pooled leads flagged (the trained share when not adapted)
    trained_share: float
    labelled: int  # labelled leads the calibration was refreshed on
    labelled_rate: float | None  # their conversion rate
    estimate: float | None  # the EM estimate of the base rate of the pooled unlabelled leads
    expected_precision: float | None
    expected_recall: float | None
    reason: str
    disagree: bool = False  # the estimate is farther than the tolerance from the labelled rate: not followed

    @property
    def adapted(self) -> bool:
        return self.status == "adapted"

    def line(self) -> str:
        return f"share {self.share:.1%} ({self.reason})"

    def metrics(self) -> dict[str, float]:
        """The figures for the scoring run in MLflow (only those known)."""
        values = {
            "share_chosen": self.share,
            "share_trained": self.trained_share,
            "share_labelled_leads": float(self.labelled),
            "labelled_base_rate": self.labelled_rate,
            "base_rate_estimate": self.estimate,
            "expected_precision": self.expected_precision,
            "expected_recall": self.expected_recall,
            "base_rate_disagree": float(self.disagree),
        }
        return {k: float(v) for k, v in values.items() if v is not None}


def _logit(p: NDArray[Any]) -> NDArray[Any]:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS)
    return np.asarray(np.log(p / (1.0 - p)))


def _sigmoid(z: NDArray[Any]) -> NDArray[Any]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def platt_fit(scores: NDArray[Any], labels: NDArray[Any], iterations: int = 50) -> tuple[float, float]:
    """``(a, b)`` of ``P(label = 1) = sigmoid(a * logit(score) + b)``, maximum likelihood (Newton steps,
    a tiny ridge keeps a separable sample finite)."""
    x = _logit(scores)
    y = np.asarray(labels, dtype=float)
    w = np.array([1.0, 0.0])
    design = np.column_stack([x, np.ones_like(x)])
    for _ in range(iterations):
        p = _sigmoid(design @ w)
        gradient = design.T @ (y - p) - 1e-6 * w
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w = w + step
        if np.max(np.abs(step)) < 1e-9:
            break
    return float(w[0]), float(w[1])


def calibrated(scores: NDArray[Any], a: float, b: float) -> NDArray[Any]:
    return _sigmoid(a * _logit(scores) + b)


def shift_prior(probs: NDArray[Any], old: float, new: float) -> NDArray[Any]:
    """Posteriors at prior ``old`` as they are at prior ``new`` (Bayes, class-conditional scores kept)."""
    p = np.asarray(probs, dtype=float)
    up, down = new / old * p, (1.0 - new) / (1.0 - old) * (1.0 - p)
    return np.asarray(up / (up + down))


def em_prior(probs: NDArray[Any], prior: float, iterations: int = 200, tolerance: float = 1e-7) -> float:
    """The base rate of unlabelled leads whose posteriors at ``prior`` are ``probs`` (Saerens et al. 2002)."""
    p = np.asarray(probs, dtype=float)
    estimate = prior
    for _ in range(iterations):
        updated = float(np.mean(shift_prior(p, prior, estimate)))
        updated = min(max(updated, _EPS), 1.0 - _EPS)
        if abs(updated - estimate) < tolerance:
            return updated
        estimate = updated
    return estimate


def anchored(probs: NDArray[Any], prior: float, rate: float) -> NDArray[Any]:
    """The posteriors (at ``prior``) shifted to the prior whose adjusted posteriors average ``rate``."""
    low, high = -12.0, 12.0  # the new prior's log-odds, found by bisection (the mean is monotone in it)
    for _ in range(60):
        middle = (low + high) / 2.0
        if float(np.mean(shift_prior(probs, prior, float(_sigmoid(np.array(middle)))))) < rate:
            low = middle
        else:
            high = middle
    return shift_prior(probs, prior, float(_sigmoid(np.array((low + high) / 2.0))))


def expected_figures(probs: NDArray[Any], share: float) -> tuple[float, float]:
    """Expected precision and recall when the top ``share`` of leads (by probability) are flagged."""
    p = np.sort(np.asarray(probs, dtype=float))[::-1]
    flagged = max(1, int(np.ceil(share * len(p))))
    top = p[:flagged].sum()
    return float(top / flagged), float(top / p.sum()) if p.sum() > 0 else 0.0


def choose_share(
    rule: ShareRule,
    trained_share: float,
    pooled_scores: NDArray[Any],
    labelled_scores: NDArray[Any],
    labels: NDArray[Any],
) -> ShareDecision:
    """Today's share: calibrated on the labelled leads, their base rate re-estimated on ``pooled_scores``
    (the unlabelled recent leads and the batch), the share with the most room to both targets."""
    labels = np.asarray(labels, dtype=float)
    pooled = np.asarray(pooled_scores, dtype=float)
    labelled = len(labels)
    positives = int(labels.sum())
    if labelled < rule.min_labelled or positives in (0, labelled) or not len(pooled):
        why = f"{labelled} labelled lead(s) known, {rule.min_labelled} of both classes needed: the trained share"
        rate = float(labels.mean()) if labelled else None
        return ShareDecision("trained", trained_share, trained_share, labelled, rate, None, None, None, why)
    rate = positives / labelled
    a, b = platt_fit(np.asarray(labelled_scores, dtype=float), labels)
    probs = calibrated(pooled, a, b)
    estimate = em_prior(probs, rate)
    disagree = abs(estimate - rate) > rule.tolerance
    adjusted = anchored(probs, rate, rate if disagree else estimate)
    best: tuple[float, float, float, float] | None = None  # room, share, precision, recall
    for share in _SHARES:
        precision, recall = expected_figures(adjusted, float(share))
        room = min(precision - rule.target_precision, recall - rule.target_recall) - rule.margin
        if best is None or room > best[0] + 1e-12:
            best = (room, float(share), precision, recall)
    assert best is not None
    room, share, precision, recall = best
    verdict = "both targets cleared with the margin" if room >= 0 else "targets out of reach: the closest share"
    followed = (
        f"they disagree by more than {rule.tolerance:g}, the labelled rate is followed"
        if disagree
        else "the estimate is followed"
    )
    why = (
        f"base rate {estimate:.3f} estimated on {len(pooled):,} unlabelled scores, {rate:.3f} on "
        f"{labelled:,} labelled: {followed}; expected precision {precision:.3f} recall {recall:.3f}, {verdict}"
    )
    return ShareDecision(
        "adapted", share, trained_share, labelled, rate, estimate, precision, recall, why, disagree=disagree
    )
