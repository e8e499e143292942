"""`model_performance` never grades a version on leads it was trained on (#29.2): a version's rows of
leads created up to its `trained_until` tag are left out of its weeks. A stand-in registry gives the
tags; the tables are written by hand, so every count below is a literal."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.pipelines import feedback


class _Registry:
    def all_versions(self) -> list[VersionFacts]:
        return [
            VersionFacts("1", "run1", {"trained_until": "2021-11-30 23:00:00"}),
            VersionFacts("2", "run2", {"trained_until": "2021-12-08 12:00:00"}),  # learned the first week's leads
        ]

    def version_by_alias(self, alias: str) -> None:
        return None


def test_a_version_is_not_graded_on_the_leads_it_was_trained_on(settings, monkeypatch):
    monkeypatch.setattr(registry, "tracking", lambda _settings: SimpleNamespace(versions=_Registry()))
    monkeypatch.setattr(feedback, "_log_to_mlflow", lambda *_a: None)
    ids = [f"L{i}" for i in range(8)]
    created = pd.to_datetime(["2021-12-06 10:00"] * 4 + ["2021-12-13 10:00"] * 4)  # two ISO weeks
    predictions = pd.DataFrame(
        {
            "lead_id": ids * 2,
            "score": [0.9, 0.8, 0.2, 0.1] * 4,
            "predicted_label": [1, 1, 0, 0] * 4,
            "model_name": "lead_scoring",
            "model_version": ["1"] * 8 + ["2"] * 8,
        }
    )
    with StagingDatabase(settings.db_url) as db:
        db.replace_tables(
            {
                "predictions": predictions,
                "scored_leads": pd.DataFrame({"lead_id": ids, "created_date": created}),
                "outcomes": pd.DataFrame({"lead_id": ids, "app_complete_flag": [1, 1, 0, 0] * 2}),
            },
            "fixture",
        )
    summary = feedback.recompute_performance(settings.with_overrides(min_labelled_leads=2), as_of="2021-12-31")
    with StagingDatabase(settings.db_url) as db:
        table = db.query("SELECT model_version, week_start, leads_scored, status FROM model_performance ORDER BY 1, 2")
    assert table.values.tolist() == [
        ["1", "2021-12-06 00:00:00.000000", 4, "ok"],
        ["1", "2021-12-13 00:00:00.000000", 4, "ok"],
        ["2", "2021-12-13 00:00:00.000000", 4, "ok"],  # v2's week of 2021-12-06 was in-sample: not graded
    ]
    assert len(summary.weeks) == 3
