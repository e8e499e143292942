"""What a model is worth to sales, pure: cumulative gain and lift, and how the buckets convert.

The question a sales head asks is "if we call the top X% of leads, what share of the applications
do we reach?". ``gain_table`` answers it for X = 10, 20, ..., 100 on any labelled leads (the
validation leads at training; the live weeks once their outcomes are known), ``bucket_table``
answers "how do the hot / warm / cold buckets convert?". No MLflow, no database: callers log or
print the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from lead_scoring.core.scoring import COLD, HOT, WARM

GAIN_STEPS: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def _ranked(y_true: object, y_score: object) -> NDArray[Any]:
    """The labels ordered hottest first; ties keep their input order (a stable sort)."""
    labels = np.asarray(y_true).astype(int)
    scores = np.asarray(y_score, dtype=float)
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.shape[0]} labels for {scores.shape[0]} scores")
    return labels[np.argsort(-scores, kind="stable")]


def gain_table(y_true: object, y_score: object, steps: tuple[int, ...] = GAIN_STEPS) -> list[dict[str, Any]]:
    """One row per X in ``steps``: calling the top X% of leads by score, how many leads that is, the
    applications among them, the share of all applications reached and the lift over calling at random.

    The top X% is the first round(n * X / 100) leads hottest first.
    """
    ranked = _ranked(y_true, y_score)
    leads, applications = len(ranked), int(ranked.sum())
    reached_by_rank = np.concatenate([[0], np.cumsum(ranked)])
    rows = []
    for percent in steps:
        called = int(round(leads * percent / 100))
        reached = int(reached_by_rank[called])
        share = reached / applications if applications else 0.0
        rows.append(
            {
                "top_percent": percent,
                "leads_called": called,
                "applications_reached": reached,
                "share_of_applications": round(share, 4),
                "lift": round(share / (percent / 100), 3),
            }
        )
    return rows


def gain_at(y_true: object, y_score: object, percent: int) -> float:
    """The share of applications among the top ``percent``% of leads (``valid_gain_at_30pct``)."""
    return gain_table(y_true, y_score, (percent,))[0]["share_of_applications"]


def bucket_table(y_true: object, y_score: object, hot: float, warm: float) -> list[dict[str, Any]]:
    """Hot (score >= ``hot``), warm (>= ``warm``) and cold leads: how many, the applications among
    them, their conversion rate and their share of all applications."""
    labels = np.asarray(y_true).astype(int)
    scores = np.asarray(y_score, dtype=float)
    if not 0.0 <= warm <= hot <= 1.0:
        raise ValueError(f"bucket cut-offs must satisfy 0 <= warm ({warm}) <= hot ({hot}) <= 1")
    total = int(labels.sum())
    rows = []
    for name, mask in (
        (HOT, scores >= hot),
        (WARM, (scores >= warm) & (scores < hot)),
        (COLD, scores < warm),
    ):
        leads, applications = int(mask.sum()), int(labels[mask].sum())
        rows.append(
            {
                "bucket": name,
                "leads": leads,
                "applications": applications,
                "conversion_rate": round(applications / leads, 4) if leads else 0.0,
                "share_of_applications": round(applications / total, 4) if total else 0.0,
            }
        )
    return rows
