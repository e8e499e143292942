"""`evaluate --since` grades the champion on leads it never saw (#29.2): leads up to its training cut-off
are left out even when ``--since`` is earlier. Stand-ins for the model and the reference; the leads are
built by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lead_scoring.adapters.mlflow import registry
from lead_scoring.errors import InsufficientDataError
from lead_scoring.lab import evaluate
from lead_scoring.pipelines import training

LEADS = pd.DataFrame(
    {
        "lead_id": [f"L{i}" for i in range(8)],
        "created_date": pd.to_datetime(
            [
                "2021-11-01",
                "2021-11-10",
                "2021-11-20",
                "2021-11-30",
                "2021-12-02",
                "2021-12-03",
                "2021-12-04",
                "2021-12-05",
            ]
        ),
        "app_complete_flag": [0, 1, 0, 1, 0, 1, 0, 1],
    }
)


@pytest.fixture
def champion(monkeypatch):
    graded: list[list[str]] = []

    def scores(frame: pd.DataFrame) -> np.ndarray:
        graded.append(frame["lead_id"].tolist())
        return frame["app_complete_flag"].to_numpy(dtype=float) * 0.8 + 0.1

    scorer = SimpleNamespace(predict_proba=scores, policy_cut=lambda _s: 0.5)
    model = SimpleNamespace(version="2", tags={"trained_until": "2021-12-02 00:00:00"}, scorer=scorer)
    monkeypatch.setattr(registry, "load_scoring_model", lambda _settings: model)
    monkeypatch.setattr(training, "load_training_input", lambda _settings: LEADS)
    monkeypatch.setattr(evaluate, "reference_scores", lambda train, test: np.full(len(test), 0.5))
    return graded


def test_the_champion_is_never_graded_on_leads_up_to_its_training_cut_off(settings, champion):
    report = evaluate.out_of_time_report(settings, "2021-11-15")
    assert champion == [["L5", "L6", "L7"]]  # L2..L4 were learned: created up to 2021-12-02 00:00
    assert (report.since, report.leads) == ("2021-12-02", 3)


def test_nothing_after_the_cut_off_is_refused_with_the_reason(settings, champion):
    with pytest.raises(InsufficientDataError, match=r"v2 was trained on the leads up to 2021-12-02 00:00:00"):
        evaluate.out_of_time_report(settings, "2021-11-15", "2021-12-02")
