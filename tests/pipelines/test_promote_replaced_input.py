"""The promote step when `model_input` was replaced during the training run: one plain line (issue #23.8).

The registry is stood in for: what is under test is the step's own check, not MLflow.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lead_scoring.adapters.mlflow import registry
from lead_scoring.adapters.mlflow.store import VersionFacts
from lead_scoring.errors import InputDataError
from lead_scoring.pipelines import training

VALIDATION = pd.DataFrame(
    {
        "lead_id": ["L1", "L2", "L3"],
        "created_date": pd.to_datetime(["2021-11-01", "2021-11-02", "2021-11-03"]),
        "app_complete_flag": [1, 0, 1],
    }
)


@pytest.fixture
def champion(settings, monkeypatch):
    scorer = SimpleNamespace(predict_proba=lambda frame: np.full(len(frame), 0.5), policy_cut=lambda scores: 0.5)
    monkeypatch.setattr(registry, "version_by_alias", lambda *_: VersionFacts("1", "run1", {}))
    monkeypatch.setattr(registry, "load_validation", lambda *_: VALIDATION)
    monkeypatch.setattr(
        registry, "load_scoring_model", lambda *_: SimpleNamespace(tags={"trained_until": "2021-10-31"}, scorer=scorer)
    )


@pytest.mark.parametrize(("kept", "missing"), [([], 3), (["L2"], 2)])
def test_validation_leads_gone_from_a_replaced_model_input_are_one_plain_line(settings, champion, kept, missing):
    replaced = pd.DataFrame({"lead_id": ["N1", *kept], "city_tier": 1.0})
    with pytest.raises(InputDataError) as caught:
        training._champion_on_same_leads(settings, VersionFacts("2", "run2", {}), replaced)
    assert str(caught.value) == (
        f"{missing} of the 3 validation leads of version 2 are no longer in model_input "
        "(replaced during this run): train again"
    )
