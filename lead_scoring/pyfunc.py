"""The MLflow pyfunc wrapper of a :class:`~lead_scoring.model.LeadScorer` (imports mlflow: load lazily)."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from lead_scoring.model import LeadScorer


class LeadScoringModel(mlflow.pyfunc.PythonModel):
    """Model-input frame in; ``score``, ``predicted_label`` and ``top_reasons`` out, same row order."""

    def __init__(self, scorer: LeadScorer) -> None:
        self.scorer = scorer

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ANN001
        return self.scorer.predict_frame(model_input).reset_index(drop=True)
