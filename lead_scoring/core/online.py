"""Scoring raw leads the moment they arrive (pure): the served model's whole path, raw export rows in,
one answer per row out.

The same validation (:func:`~lead_scoring.core.validation.validate_raw_leads`), the same data steps
(:data:`~lead_scoring.schema.DATA_STEPS` over :mod:`lead_scoring.core.transforms`) and the same scorer
as the batch ``score``. What differs is only what a single request cannot know:

- a column the request leaves out is empty, and a lead without ``created_date`` was created now;
- a lead without ``lead_id`` gets the id the batch derives from the same text of its raw features;
- one bad lead does not sink the others: it gets its reason in ``error`` and no score, the rest are
  scored (the batch refuses the whole file instead);
- ``predicted_label`` applies the cut it is given (the snapshot of the batch's last rank cut), never
  a rank within the request, so a lead's label does not depend on the leads sent with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core import transforms
from lead_scoring.core.mappings import Mappings
from lead_scoring.core.model import LeadScorer
from lead_scoring.core.scoring import assign_buckets
from lead_scoring.core.validation import derive_lead_ids, validate_each_lead
from lead_scoring.schema import CREATED_DATE, DATA_STEPS, LEAD_ID, MODEL_INPUT, RAW_FEATURE_COLUMNS, VALIDATED_LEADS

ANSWER_COLUMNS: tuple[str, ...] = (LEAD_ID, "score", "predicted_label", "bucket", "top_reasons", "error")
NO_LABEL = -1  # predicted_label of a lead that could not be scored (its error says why)

# what the CSV reader reads as a missing cell (lead_scoring.adapters.sources.MISSING_MARKERS)
_MISSING_TEXT = frozenset({"", "nan", "NaN", "NAN", "null", "NULL", "None"})
_SOURCE = "lead"


def run_data_steps(validated: pd.DataFrame, mappings: Mappings) -> dict[str, pd.DataFrame]:
    """Every table of :data:`DATA_STEPS` from validated leads: the data pipeline's steps, in memory."""
    frames = {VALIDATED_LEADS: validated}
    for step in DATA_STEPS:
        function: Callable[..., pd.DataFrame] = getattr(transforms, step.function)
        inputs = [frames[name] for name in step.reads]
        frames[step.writes] = function(*inputs, mappings) if step.uses_mappings else function(*inputs)
    return frames


@dataclass(frozen=True)
class OnlineScorer:
    """A version's scorer with what it needs to take raw leads: the mappings and the bucket cut-offs."""

    scorer: LeadScorer
    mappings: Mappings
    hot_cutoff: float
    warm_cutoff: float

    def reference_cut(self) -> float:
        """The cut when no snapshot of the batch's cut is known: the policy's own reference cut."""
        return self.scorer.policy.cut if self.scorer.policy is not None else 0.5

    def answer(self, raw: pd.DataFrame, cut: float | None = None, now: pd.Timestamp | None = None) -> pd.DataFrame:
        """One row per row of ``raw``, same order: ``lead_id, score, predicted_label, bucket, top_reasons, error``.

        ``error`` is empty for a scored lead; a lead that fails validation has its reason there, a
        null score, bucket and reasons, and ``predicted_label`` -1.
        """
        text = raw_text(raw, now if now is not None else pd.Timestamp.now("UTC").tz_localize(None))
        validated, errors = _validated(text)
        good = text[errors.isna().to_numpy()]
        answer = pd.DataFrame(
            {
                LEAD_ID: text[LEAD_ID].astype(object).to_numpy(),
                "score": np.full(len(text), np.nan),
                "predicted_label": np.full(len(text), NO_LABEL, dtype="int64"),
                "bucket": np.full(len(text), None, dtype=object),
                "top_reasons": np.full(len(text), None, dtype=object),
                "error": errors.astype(object).where(errors.notna(), None).to_numpy(dtype=object),
            }
        )
        if good.empty or validated is None:
            return _null_scores(answer)
        model_input = run_data_steps(validated, self.mappings)[MODEL_INPUT]
        scored = self.scorer.predict_frame(model_input).set_axis(model_input[LEAD_ID].to_numpy())
        scores = scored["score"].astype("float64")
        by_id = pd.DataFrame(
            {
                "score": scores,
                "predicted_label": (scores >= (self.reference_cut() if cut is None else cut)).astype("int64"),
                "bucket": assign_buckets(scores, self.hot_cutoff, self.warm_cutoff),
                "top_reasons": scored["top_reasons"].astype(str),
            }
        )
        rows = np.flatnonzero(errors.isna().to_numpy())
        found = by_id.loc[good[LEAD_ID].to_numpy()]  # exact copies of one lead share its answer
        for col in by_id.columns:
            answer.loc[rows, col] = found[col].to_numpy()
        answer["predicted_label"] = answer["predicted_label"].astype("int64")
        return _null_scores(answer)


def _null_scores(answer: pd.DataFrame) -> pd.DataFrame:
    """Every missing cell as None, which JSON writes as null (a NaN would be written NaN, not JSON):
    a refused lead's score, bucket and reasons, a scored lead's error. Text columns too: pandas 3
    reads a column of text and None as its ``str`` dtype, whose missing cell is NaN."""
    for col in ("score", "bucket", "top_reasons", "error"):
        answer[col] = answer[col].astype(object).where(answer[col].notna(), None)
    return answer


def raw_text(raw: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The request as the CSV reader would have read it: every raw column as text or missing.

    Columns left out are empty; a missing ``created_date`` is ``now``; a missing ``lead_id`` is the
    id the batch derives from the same text (only the raw features' text counts, so send the same
    text, or send the id).

    The columns are made as arrays and the frame once: inserting ~45 columns one at a time into a
    frame cost a third of a one-lead request.
    """
    rows = len(raw)
    columns = {
        col: _as_text(raw[col]) if col in raw.columns else np.full(rows, np.nan, dtype=object)
        for col in RAW_FEATURE_COLUMNS
    }
    created = columns[CREATED_DATE]
    columns[CREATED_DATE] = np.where(pd.isna(created), now.strftime("%Y-%m-%d %H:%M:%S"), created).astype(object)
    text = pd.DataFrame(columns, index=pd.RangeIndex(rows), dtype=object)
    ids = _as_text(raw[LEAD_ID]) if LEAD_ID in raw.columns else np.full(rows, np.nan, dtype=object)
    ids = np.array([value.strip() or np.nan if isinstance(value, str) else value for value in ids], dtype=object)
    if pd.isna(ids).any():  # hashing every column costs a fifth of a one-lead request: only when needed
        derived = derive_lead_ids(text).to_numpy(dtype=object)
        ids = np.where(pd.isna(ids), derived, ids).astype(object)
    text.insert(0, LEAD_ID, pd.Series(ids, index=text.index, dtype=object))
    return text


def _as_text(values: pd.Series) -> NDArray[np.object_]:
    """Each cell as the reader's text: numbers written as Python writes them, blanks and nulls missing."""

    def cell(value: Any) -> Any:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return np.nan
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, (bool, np.bool_)):
            return str(int(value))
        text = str(value).strip() if isinstance(value, str) else str(value)
        return np.nan if text in _MISSING_TEXT else text

    cells = np.empty(len(values), dtype=object)
    cells[:] = [cell(v) for v in values.to_numpy(dtype=object)]
    return cells


def _validated(text: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.Series]:
    """The request's valid leads, validated together, and per row why a lead is refused (missing: it
    is fine): one call of the validation for the whole request, never one per lead."""
    return validate_each_lead(text, _SOURCE)
