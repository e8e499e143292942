"""The MLflow pyfunc wrappers of a scorer (imports mlflow: load lazily).

:class:`RawLeadScoringModel` is what training logs now: raw CodePro leads in (the export's columns),
one answer per lead out (:mod:`lead_scoring.core.online`), with the mappings and the bucket cut-offs
pickled inside and the ``lead_scoring`` package logged beside it as ``code_paths``, so that
``mlflow models serve`` and ``mlflow models generate-dockerfile`` need nothing but the model's files.
:class:`LeadScoringModel` is the model-input wrapper of the versions logged before; it stays so that
their pickles still load.
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import AnyType
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

import lead_scoring
from lead_scoring.core.model import LeadScorer
from lead_scoring.core.online import OnlineScorer
from lead_scoring.schema import (
    CATEGORICAL_COLUMNS,
    CITY,
    CREATED_DATE,
    INTERACTION_COLUMNS,
    LABEL,
    LEAD_ID,
    ONLINE_CUT_TAG,
    REFERRED_LEAD,
    TOTAL_LEADS_DROPPED,
)

log = logging.getLogger(__name__)

# What the pickled scorer and the package's modules it imports need (the package itself travels as
# code_paths). Listing them saves MLflow's slow import-tracing subprocess.
_RUNTIME_PACKAGES = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "cloudpickle", "pandera")
ONLINE_CUT_CONFIG = "online_cut"  # model_config key: a cut given at load wins over the registry's tag
RUN_ID_CONFIG = "run_id"  # model_config key: the training run, to find the version's tag at load


class LeadScoringModel(PythonModel):
    """Model-input frame in; ``score``, ``predicted_label`` and ``top_reasons`` out, same row order."""

    def __init__(self, scorer: LeadScorer) -> None:
        self.scorer = scorer

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict_frame(model_input).reset_index(drop=True)


class RawLeadScoringModel(PythonModel):
    """Raw leads in; ``lead_id, score, predicted_label, bucket, top_reasons, error`` out, one row per lead.

    ``predicted_label`` uses the cut given at load (``model_config={"online_cut": ...}``), else the
    registry version's ``online_cut`` tag (the daily batch's last cut), else the policy's reference cut.
    """

    def __init__(self, online: OnlineScorer) -> None:
        self.online = online
        self.cut: float | None = None

    @property
    def scorer(self) -> LeadScorer:
        return self.online.scorer

    def load_context(self, context: Any) -> None:
        config = dict(getattr(context, "model_config", None) or {})
        given = config.get(ONLINE_CUT_CONFIG)
        self.cut = float(given) if given is not None else registry_cut(str(config.get(RUN_ID_CONFIG) or ""))
        log.info("online cut %s", self.cut if self.cut is not None else f"{self.online.reference_cut()} (reference)")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.online.answer(model_input, cut=self.cut)


def registry_cut(run_id: str) -> float | None:
    """The ``online_cut`` tag of the registry version logged by ``run_id``, when the registry answers."""
    if not run_id:
        return None
    try:
        from mlflow import MlflowClient

        versions = MlflowClient().search_model_versions(f"run_id = '{run_id}'")
        cuts = [float(v.tags[ONLINE_CUT_TAG]) for v in versions if ONLINE_CUT_TAG in v.tags]
    except Exception as exc:  # noqa: BLE001 - serving goes on with the reference cut; the log says why
        log.warning("no online cut from the registry (%s): the policy's reference cut applies", exc)
        return None
    return cuts[0] if cuts else None


def raw_lead_signature() -> ModelSignature:
    """Raw export rows: every column optional and of any JSON type, the label ignored.

    The model reads each cell as the CSV reader reads the export (:func:`lead_scoring.core.online.raw_text`):
    a count sent as ``"3"`` or ``""``, an id sent as a number, are what they are in a file. A typed
    column ("double") made MLflow refuse the whole request for one such cell; a cell that is not what
    its column needs is now that lead's ``error``, and the others are scored.
    """
    columns = (
        LEAD_ID,
        CREATED_DATE,
        CITY,
        *CATEGORICAL_COLUMNS,
        TOTAL_LEADS_DROPPED,
        REFERRED_LEAD,
        *INTERACTION_COLUMNS,
    )
    any_type = AnyType()  # type: ignore[no-untyped-call]
    inputs: list[ColSpec | TensorSpec] = [ColSpec(any_type, col, required=False) for col in columns]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", LEAD_ID),
        ColSpec("double", "score", required=False),
        ColSpec("long", "predicted_label"),
        ColSpec("string", "bucket", required=False),
        ColSpec("string", "top_reasons", required=False),
        ColSpec("string", "error", required=False),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


RAW_LEAD_EXAMPLE: dict[str, object] = {
    LEAD_ID: "L-example",
    CREATED_DATE: "2021-07-01 10:00:00",
    CITY: "mumbai",
    "first_platform_c": "Level0",
    "first_utm_medium_c": "Level0",
    "first_utm_source_c": "Level0",
    TOTAL_LEADS_DROPPED: 1.0,
    REFERRED_LEAD: 0.0,
    "view_programs_page": 2.0,
}


def package_code_path() -> str:
    """The ``lead_scoring`` package folder, logged with the model as its ``code_paths``."""
    return str(Path(lead_scoring.__file__).parent)


def model_signature(model_input: pd.DataFrame) -> ModelSignature:
    """The model-input signature of the versions logged before raw leads (kept for reference and tests).

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
