"""The MLflow pyfunc wrapper of a :class:`~lead_scoring.core.model.LeadScorer` (imports mlflow: load lazily)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from lead_scoring.core.model import LeadScorer
from lead_scoring.schema import LABEL, LEAD_ID

# What the pickled scorer needs besides the lead-scoring package itself (which every consumer of
# this registry has installed). Listing them saves MLflow's slow import-tracing subprocess.
_RUNTIME_PACKAGES = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "cloudpickle")


class LeadScoringModel(PythonModel):
    """Model-input frame in; ``score``, ``predicted_label`` and ``top_reasons`` out, same row order."""

    def __init__(self, scorer: LeadScorer) -> None:
        self.scorer = scorer

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict_frame(model_input).reset_index(drop=True)


def model_signature(model_input: pd.DataFrame) -> ModelSignature:
    """The signature scoring really meets, not what five example rows happen to show.

    ``created_date`` is a datetime; every count is a double (missing interactions are NaN); every
    text column (city, platform, medium, source) is an optional string that may be null; the lead id
    and the label are optional and ignored by the model.
    """
    inputs: list[ColSpec | TensorSpec] = []
    for col in model_input.columns:
        if col == LABEL:
            continue
        if is_datetime64_any_dtype(model_input[col]):
            inputs.append(ColSpec("datetime", col))
        elif is_numeric_dtype(model_input[col]):
            inputs.append(ColSpec("double", col))
        else:
            inputs.append(ColSpec("string", col, required=False))
    if LEAD_ID not in model_input.columns:
        inputs.insert(0, ColSpec("string", LEAD_ID, required=False))
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("double", "score"),
        ColSpec("long", "predicted_label"),
        ColSpec("string", "top_reasons"),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def pip_requirements() -> list[str]:
    """The runtime packages, pinned to the versions the model was trained with."""
    pins = []
    for name in _RUNTIME_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins
