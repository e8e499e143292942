"""The thin-evidence vocabulary: what the model reads, in a sales person's words, and the kinds of
unusual input a batch is counted for. Both the scorer's summary and the drift monitor read it."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lead_scoring.core.transforms import raw_level_column
from lead_scoring.schema import CATEGORICAL_COLUMNS, CITY, INTERACTION_GROUPS

# The one vocabulary for the categoricals the model reads, in a sales person's words: a lead's
# reasons ("marketing medium Level31 (+)") and a batch's thin evidence ("rare/new marketing medium 535").
FEATURE_NOUNS: dict[str, str] = {
    CITY: "city",
    **dict(
        zip(
            (raw_level_column(col) for col in CATEGORICAL_COLUMNS),
            ("platform", "marketing medium", "traffic source"),
            strict=True,
        )
    ),
}
MISSING_CITY, NO_INTERACTIONS = "missing_city", "no_interactions"


def unseen_kind(column: str) -> str:
    """The `unusual_inputs` count of a categorical's levels the model never learned."""
    return f"unseen_{column}"


UNUSUAL_WORDS: dict[str, str] = {
    **{unseen_kind(col): f"rare/new {noun}" for col, noun in FEATURE_NOUNS.items()},
    MISSING_CITY: "no city",
    NO_INTERACTIONS: "no interactions",
}


def unusual_inputs(model_input: pd.DataFrame, known_levels: Mapping[str, set[str]]) -> dict[str, int]:
    """Counts of leads the model has to score on thin evidence: unseen levels, no city, no interactions.

    ``known_levels`` maps a categorical column to the levels seen in training.
    """
    counts: dict[str, int] = {}
    for col, levels in known_levels.items():
        if col in model_input.columns:
            values = model_input[col]
            counts[unseen_kind(col)] = int((values.notna() & ~values.isin(levels)).sum())
    if CITY in model_input.columns:
        counts[MISSING_CITY] = int(model_input[CITY].isna().sum())
    groups = [g for g in INTERACTION_GROUPS if g in model_input.columns]
    if groups:
        counts[NO_INTERACTIONS] = int((model_input[groups].fillna(0).sum(axis=1) == 0).sum())
    return counts
