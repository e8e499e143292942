"""The one feature path: fitted on the training leads, saved inside the model, applied at scoring.

Categoricals go to LightGBM natively with their categories frozen at fit time: levels seen fewer
than ``min_count`` times become ``other``, missing values ``missing``, and a level never seen in
training is scored as ``other``. The raw levels and the raw city carry most of the signal (the
reference mapping to "significant levels" throws much of it away).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from lead_scoring.core.encodings import LevelEncoding
from lead_scoring.core.transforms import raw_level_column
from lead_scoring.schema import CATEGORICAL_COLUMNS, CITY, CITY_TIER, COUNT_COLUMNS, INTERACTION_GROUPS

# parenthesised so that no real level or city (the exports do have a city called "other") is mistaken for them
OTHER, MISSING = "(other)", "(missing)"

NUMERIC_FEATURES: tuple[str, ...] = (CITY_TIER, *COUNT_COLUMNS, *INTERACTION_GROUPS)
CATEGORICAL_FEATURES: tuple[str, ...] = (*(raw_level_column(c) for c in CATEGORICAL_COLUMNS), CITY)
FEATURES: tuple[str, ...] = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)


@dataclass
class LeadFeatures:
    """Model-input frame -> LightGBM feature frame. ``fit`` learns the categorical levels and, when
    ``encoding`` is given, its target/frequency statistics (see :mod:`~lead_scoring.core.encodings`).

    ``raw_city``: whether the raw city stays a categorical feature beside its encodings.
    """

    min_count: int = 30
    levels: dict[str, list[str]] = field(default_factory=dict)
    encoding: LevelEncoding | None = None  # None: no encodings (a scorer pickled before them too)
    raw_city: bool = True

    def fit(self, model_input: pd.DataFrame) -> LeadFeatures:
        _require(model_input)
        self.levels = {}
        for col in CATEGORICAL_FEATURES:
            counts = model_input[col].value_counts()
            self.levels[col] = sorted(counts[counts >= self.min_count].index.astype(str))
        if self.encoding is not None:
            self.encoding.fit(model_input)
        return self

    def categorical_features(self) -> tuple[str, ...]:
        """The categoricals the model sees as levels."""
        return tuple(col for col in CATEGORICAL_FEATURES if self.raw_city or col != CITY)

    def transform(self, model_input: pd.DataFrame) -> pd.DataFrame:
        if not self.levels:
            raise RuntimeError("LeadFeatures.transform called before fit")
        _require(model_input)
        out = pd.DataFrame(index=model_input.index)
        for col in NUMERIC_FEATURES:
            out[col] = pd.to_numeric(model_input[col], errors="coerce").astype("float64")
        for col in self.categorical_features():
            known = self.levels[col]
            values = model_input[col]
            codes = pd.Categorical(values, categories=known).codes.copy()  # -1: unknown or missing
            codes[(codes == -1) & values.notna().to_numpy()] = len(known)  # OTHER
            codes[values.isna().to_numpy()] = len(known) + 1  # MISSING
            out[col] = pd.Categorical.from_codes(codes, categories=[*known, OTHER, MISSING])
        if self.encoding is not None:
            out = pd.concat([out, self.encoding.transform(model_input)], axis=1)
        return out

    def fit_transform(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """The training leads' features: the target encoding of each from the leads before it only."""
        frame = self.fit(model_input).transform(model_input)
        if self.encoding is not None and self.encoding.target:
            ordered = self.encoding.fit_transform_ordered(model_input)
            frame[ordered.columns] = ordered
        return frame


def _require(model_input: pd.DataFrame) -> None:
    from lead_scoring.errors import InputDataError

    missing = [col for col in FEATURES if col not in model_input.columns]
    if missing:
        raise InputDataError(
            f"model input lacks column(s) {', '.join(missing)}: rerun `lead-scoring prepare` with this version"
        )
