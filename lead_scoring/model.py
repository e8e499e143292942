"""The fitted lead scorer (features + booster + threshold) and its MLflow pyfunc wrapper.

The pyfunc is the whole model as the registry serves it: a model-input frame in, and per lead a
``score`` (probability of completing an application), ``predicted_label`` (at the stored
threshold) and ``top_reasons`` (the three features that moved this lead's score most, in words).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lead_scoring.features import CATEGORICAL_FEATURES, FEATURES, MISSING, OTHER, LeadFeatures
from lead_scoring.schema import CITY, CITY_TIER, REFERRED_LEAD, TOTAL_LEADS_DROPPED

OUTPUT_COLUMNS = ("score", "predicted_label", "top_reasons")

_LEVEL_WORDS = {
    "first_platform_c_raw": "platform",
    "first_utm_medium_c_raw": "marketing medium",
    "first_utm_source_c_raw": "traffic source",
}


@dataclass
class LeadScorer:
    """Everything scoring needs, fitted together."""

    features: LeadFeatures
    booster: object  # lightgbm.LGBMClassifier
    threshold: float

    def predict_proba(self, model_input: pd.DataFrame) -> np.ndarray:
        return self.booster.predict_proba(self.features.transform(model_input))[:, 1]

    def predict_frame(self, model_input: pd.DataFrame, reasons: int = 3) -> pd.DataFrame:
        """Score, 0/1 at the threshold and the top reasons, one row per input row, same order."""
        frame = self.features.transform(model_input)
        if frame.empty:
            return pd.DataFrame({"score": [], "predicted_label": [], "top_reasons": []})
        scores = self.booster.predict_proba(frame)[:, 1]
        contributions = self.booster.booster_.predict(frame, pred_contrib=True)[:, : len(FEATURES)]
        return pd.DataFrame(
            {
                "score": scores,
                "predicted_label": (scores >= self.threshold).astype("int64"),
                "top_reasons": top_reasons(contributions, describe_features(model_input, self.features), reasons),
            },
            index=model_input.index,
        )


def describe_features(model_input: pd.DataFrame, features: LeadFeatures) -> pd.DataFrame:
    """Each feature of each lead in a sales person's words (one column per model feature)."""
    grouped = features.grouped_values(model_input)
    words = pd.DataFrame(index=model_input.index)
    tier = pd.to_numeric(model_input[CITY_TIER], errors="coerce")
    words[CITY_TIER] = np.where(
        tier == 1, "metro city (tier 1)", np.where(tier == 2, "tier-2 city", "smaller city (tier 3)")
    )
    dropped = pd.to_numeric(model_input[TOTAL_LEADS_DROPPED], errors="coerce").fillna(0).astype(int)
    words[TOTAL_LEADS_DROPPED] = np.where(
        dropped <= 1, "first enquiry", dropped.astype(str).radd("enquired ").add(" times before")
    )
    referred = pd.to_numeric(model_input[REFERRED_LEAD], errors="coerce").fillna(0)
    words[REFERRED_LEAD] = np.where(referred >= 1, "referred by a learner", "not referred")
    for col in FEATURES:
        if col.endswith("_interaction"):
            count = pd.to_numeric(model_input[col], errors="coerce").fillna(0).astype(int)
            kind = col.removesuffix("_interaction")
            words[col] = np.where(count > 0, count.astype(str) + f" {kind} clicks", f"no {kind} clicks")
    for col in CATEGORICAL_FEATURES:
        values = grouped[col]
        if col == CITY:
            words[col] = np.where(
                values == MISSING, "no city given", np.where(values == OTHER, "a rarely seen city", "city " + values)
            )
        else:
            label = _LEVEL_WORDS[col]
            words[col] = np.where(
                values == MISSING,
                f"no {label}",
                np.where(values == OTHER, f"a rarely seen {label}", f"{label} " + values),
            )
    return words[list(FEATURES)]


def top_reasons(contributions: np.ndarray, words: pd.DataFrame, count: int = 3) -> np.ndarray:
    """For each row, the ``count`` features with the largest contribution, e.g. "referred by a learner (+)"."""
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :count]
    rows = np.arange(len(contributions))[:, None]
    picked_words = words.to_numpy(dtype=object)[rows, order]
    signs = np.where(contributions[rows, order] >= 0, " (+)", " (-)")
    parts = np.char.add(picked_words.astype(str), signs)
    return np.array(["; ".join(row) for row in parts], dtype=object)
