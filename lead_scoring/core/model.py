"""The fitted lead scorer (features + booster + decision policy) and its MLflow pyfunc wrapper.

The pyfunc is the whole model as the registry serves it: a model-input frame in, and per lead a
``score`` (probability of completing an application), ``predicted_label`` (the decision policy,
see ``policy.py``) and ``top_reasons`` (the three features that moved this lead's score most, in words).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core import explain
from lead_scoring.core.encodings import rate_column, share_column
from lead_scoring.core.evidence import FEATURE_NOUNS
from lead_scoring.core.features import CATEGORICAL_FEATURES, MISSING, OTHER, LeadFeatures
from lead_scoring.core.policy import DecisionPolicy
from lead_scoring.schema import CITY, CITY_TIER, MAX_COUNT, REFERRED_LEAD, TOTAL_LEADS_DROPPED

if TYPE_CHECKING:
    from lightgbm import LGBMClassifier


@dataclass
class LeadScorer:
    """Everything scoring needs, fitted together: features, booster and the decision policy."""

    features: LeadFeatures
    booster: LGBMClassifier
    policy: DecisionPolicy | None = None  # None: a bare fit, flags at 0.5

    def policy_cut(self, scores: NDArray[Any], recent: NDArray[Any] | None = None, share: float | None = None) -> float:
        """The cut for a batch of ``scores``; ``recent``: this model's latest scores, to rank against;
        ``share``: the day's share when it replaces the trained one (core.daily_share)."""
        return self.policy.cut_for(scores, recent, share) if self.policy is not None else 0.5

    def labels(self, scores: NDArray[Any], recent: NDArray[Any] | None = None) -> NDArray[Any]:
        """0/1 per score under the policy."""
        scores = np.asarray(scores, dtype=float)
        return (scores >= self.policy_cut(scores, recent)).astype("int64")

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a scorer pickled before decision policies held a bare threshold: it keeps flagging at it
        legacy = state.pop("threshold", None)
        if legacy is not None and state.get("policy") is None:
            state["policy"] = DecisionPolicy("validation", cut=float(legacy), share=float("nan"))
        self.__dict__.update(state)

    def importance(self) -> dict[str, float]:
        """The booster's total gain per feature (the importance plot's bars)."""
        booster = self.booster.booster_
        return dict(zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True))

    def predict_proba(self, model_input: pd.DataFrame) -> NDArray[Any]:
        return np.asarray(self.booster.predict_proba(self.features.transform(model_input)))[:, 1]

    def predict_frame(self, model_input: pd.DataFrame, reasons: int = 3) -> pd.DataFrame:
        """Score, 0/1 under the policy (ranked within this batch) and the top reasons, one row per row, same order.

        Leads with the same features get the same score and reasons, and a batch has many of them
        (most leads have no interactions and a common source): the model runs once per distinct
        feature row and the results are spread back.
        """
        frame = self.features.transform(model_input)
        if frame.empty:
            return pd.DataFrame({"score": [], "predicted_label": [], "top_reasons": []})
        distinct, positions = distinct_rows(frame)
        contributions = explain.contributions_for(self.booster.booster_, distinct)
        # the contributions add up to the raw score (log-odds), so the probability needs no second pass
        scores = 1.0 / (1.0 + np.exp(-contributions.sum(axis=1)))
        texts = top_reasons(contributions[:, : frame.shape[1]], describe_features(distinct), reasons)
        scores = scores[positions]
        return pd.DataFrame(
            {
                "score": scores,
                "predicted_label": self.labels(scores),
                "top_reasons": texts[positions],
            },
            index=model_input.index,
        )


def distinct_rows(features: pd.DataFrame) -> tuple[pd.DataFrame, NDArray[Any]]:
    """The distinct rows of a feature frame, and for each row the position of its copy among them."""
    columns = {
        col: values.cat.codes.to_numpy() if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()
        for col, values in features.items()
    }
    keys = pd.util.hash_pandas_object(pd.DataFrame(columns, copy=False), index=False).to_numpy()
    positions = pd.factorize(keys)[0]
    first = explain.first_positions(positions)
    # two different rows with one 64-bit hash would share a score: never, but check, it is cheap
    if not all(np.array_equal(values[first][positions], values, equal_nan=True) for values in columns.values()):
        return features, np.arange(len(features))
    return features.iloc[first], positions


def _whole_counts(values: pd.Series) -> tuple[NDArray[Any], pd.Series]:
    """Counts as whole numbers and as text, guarded: missing is 0, and anything above
    :data:`MAX_COUNT` (inf too) is "more than 1,000,000", never a wrapped-around int cast."""
    numbers = pd.to_numeric(values, errors="coerce").fillna(0).to_numpy(dtype="float64")
    huge = ~(numbers <= MAX_COUNT)  # inf too (NaN is already 0)
    whole = np.clip(numbers, 0, MAX_COUNT).astype("int64")  # in range: the cast cannot wrap
    text = pd.Series(np.where(huge, f"more than {MAX_COUNT:,}", whole.astype(str)), index=values.index, dtype=object)
    return whole, text


def describe_features(features: pd.DataFrame) -> pd.DataFrame:
    """Each feature of each lead in a sales person's words (one column per model feature).

    ``features`` is the model's own view of the leads (``LeadFeatures.transform``): categoricals
    as the model grouped them, rare levels as ``(other)`` and blanks as ``(missing)``; a level's
    encodings as the share of training leads with it that completed ("a city where 68% of leads
    completed") and the share of training leads with it ("a city of 3% of leads").
    """
    words: dict[str, Any] = {}  # the frame is made once: inserting columns one by one cost a tenth of a request
    tier = features[CITY_TIER]
    words[CITY_TIER] = np.where(
        tier == 1, "metro city (tier 1)", np.where(tier == 2, "tier-2 city", "smaller city (tier 3)")
    )
    dropped, dropped_text = _whole_counts(features[TOTAL_LEADS_DROPPED])
    words[TOTAL_LEADS_DROPPED] = np.where(dropped <= 1, "first enquiry", "enquired " + dropped_text + " times before")
    words[REFERRED_LEAD] = np.where(features[REFERRED_LEAD].fillna(0) >= 1, "referred by a learner", "not referred")
    for col in features.columns:
        if col.endswith("_interaction"):
            count, count_text = _whole_counts(features[col])
            kind = col.removesuffix("_interaction")
            words[col] = np.where(count > 0, count_text + f" {kind} clicks", f"no {kind} clicks")
    for col in CATEGORICAL_FEATURES:
        noun = "city" if col == CITY else FEATURE_NOUNS[col]
        if rate_column(col) in features.columns:
            rate = np.round(features[rate_column(col)].to_numpy(dtype="float64") * 100).astype("int64")
            words[rate_column(col)] = [f"a {noun} where {r}% of leads completed" for r in rate]
        if share_column(col) in features.columns:
            share = features[share_column(col)].to_numpy(dtype="float64") * 100
            words[share_column(col)] = [
                f"a {noun} of {s:.0f}% of leads" if s >= 1 else f"a {noun} of under 1% of leads" for s in share
            ]
        if col not in features.columns:
            continue
        values = features[col].astype(str)
        if col == CITY:
            words[col] = np.where(
                values == MISSING, "no city given", np.where(values == OTHER, "a rarely seen city", "city " + values)
            )
        else:
            label = FEATURE_NOUNS[col]
            words[col] = np.where(
                values == MISSING,
                f"no {label}",
                np.where(values == OTHER, f"a rarely seen {label}", f"{label} " + values),
            )
    return pd.DataFrame({col: words[col] for col in features.columns}, index=features.index)


def top_reasons(contributions: NDArray[Any], words: pd.DataFrame, count: int = 3) -> NDArray[Any]:
    """For each row, the ``count`` features with the largest contribution, e.g. "referred by a learner (+)"."""
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :count]
    rows = np.arange(len(contributions))[:, None]
    picked_words = words.to_numpy(dtype=object)[rows, order]
    signs = np.where(contributions[rows, order] >= 0, " (+)", " (-)")
    parts = np.char.add(picked_words.astype(str), signs)
    return np.array(["; ".join(row) for row in parts], dtype=object)
