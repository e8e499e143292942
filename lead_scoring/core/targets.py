"""The case study's targets, read by the promotion gate (training) and the weekly verdict (feedback)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Targets:
    """A figure meets its target only when it is above it: both the promotion gate and the weekly verdict
    read them so."""

    auc: float
    precision: float
    recall: float
