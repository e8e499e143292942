"""The pool's scores are computed once per lead and version in a process (core of the replay's and a
backfill's speed), and are exactly what a fresh process computes: a lead whose input changed, or
another version, is scored again."""

from __future__ import annotations

import pandas as pd

from lead_scoring.adapters.mlflow.registry import ScoringModel
from lead_scoring.pipelines import scoring
from tests.pipelines.test_rank_pool import _Model


class _Counting(_Model):
    """The stand-in (score = total_leads_droppped / 100) that counts the leads it scores."""

    def __init__(self) -> None:
        self.scored = 0

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.scored += len(frame)
        return super().predict(frame)


def pool(counts: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(counts))], "total_leads_droppped": counts})


def test_a_lead_is_scored_once_per_version_and_again_when_its_input_changes(settings):
    model = _Counting()
    version = ScoringModel("lead_scoring", "7", "run-7", model, None, {})
    first = scoring.pool_scores(settings, version, pool([10, 20, 30]))
    assert first.tolist() == [0.1, 0.2, 0.3] and model.scored == 3
    # the same leads and one new: only the new one is scored; the order is the pool's
    again = scoring.pool_scores(settings, version, pool([10, 20, 30, 40]).iloc[[3, 0, 1, 2]])
    assert again.tolist() == [0.4, 0.1, 0.2, 0.3] and model.scored == 4
    # lead L1's input changed (a corrected file): it is scored again, not served from memory
    changed = scoring.pool_scores(settings, version, pool([10, 25, 30]))
    assert changed.tolist() == [0.1, 0.25, 0.3] and model.scored == 5
    # another version scores every lead itself
    other = _Counting()
    newer = ScoringModel("lead_scoring", "8", "run-8", other, None, {})
    assert scoring.pool_scores(settings, newer, pool([10, 20])).tolist() == [0.1, 0.2] and other.scored == 2
