"""The data-pipeline steps: pure functions from DataFrame to DataFrame, in pipeline order.

Each follows the reference semantics of the CodePro case study, keyed by ``lead_id`` so that
distinct leads are never merged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lead_scoring.core.mappings import Mappings
from lead_scoring.schema import (
    CATEGORICAL_COLUMNS,
    CITY,
    CITY_TIER,
    COUNT_COLUMNS,
    CREATED_DATE,
    INTERACTION_COLUMNS,
    INTERACTION_GROUPS,
    LABEL,
    LEAD_ID,
    OTHERS_LEVEL,
)


def load_leads(validated: pd.DataFrame) -> pd.DataFrame:
    """``loaded_data``: the validated leads with missing ``total_leads_droppped`` / ``referred_lead`` as 0."""
    return validated.assign(**{col: validated[col].fillna(0.0) for col in COUNT_COLUMNS})


def map_city_tier(loaded: pd.DataFrame, mappings: Mappings) -> pd.DataFrame:
    """``city_tier_mapped``: ``city_mapped`` replaced by ``city_tier`` (1.0/2.0/3.0; unknown or missing: 3.0)."""
    city = loaded[CITY].str.strip().str.lower()
    tier = city.map(mappings.city_tiers).fillna(mappings.default_city_tier).astype("float64")
    position = loaded.columns.get_loc(CITY)
    mapped = loaded.drop(columns=[CITY])
    mapped.insert(position, CITY_TIER, tier)
    return mapped


def map_significant_levels(frame: pd.DataFrame, mappings: Mappings) -> pd.DataFrame:
    """``categorical_variables_mapped``: levels outside the significant ones (missing too) become ``others``."""
    replaced = {
        col: frame[col].where(frame[col].isin(mappings.significant_levels[col]), OTHERS_LEVEL)
        for col in CATEGORICAL_COLUMNS
    }
    return frame.assign(**replaced)


def map_interaction_groups(frame: pd.DataFrame, mappings: Mappings) -> pd.DataFrame:
    """``interactions_mapped``: each group is the sum of its raw interaction columns (missing = 0).

    The 37 raw columns are dropped. The reference also drops exact duplicate rows here; rows are
    already unique by ``lead_id`` (validation drops exact duplicates of the raw export), so no
    two distinct leads are merged for looking alike after mapping.
    """
    groups = {
        group: frame[list(columns)].sum(axis=1, min_count=0).astype("float64")
        for group, columns in sorted(mappings.interaction_groups.items())
    }
    mapped = frame.drop(columns=list(INTERACTION_COLUMNS))
    label = mapped.pop(LABEL) if LABEL in mapped.columns else None
    mapped = mapped.assign(**groups)
    if label is not None:
        mapped[LABEL] = label
    return mapped


MODEL_INPUT_COLUMNS: tuple[str, ...] = (
    LEAD_ID,
    CREATED_DATE,
    CITY_TIER,
    *CATEGORICAL_COLUMNS,
    *COUNT_COLUMNS,
    *INTERACTION_GROUPS,
)


def raw_level_column(column: str) -> str:
    """Name of the model-input column that keeps a categorical's level as exported (before mapping)."""
    return f"{column}_raw"


def build_model_input(interactions: pd.DataFrame, loaded: pd.DataFrame | None = None) -> pd.DataFrame:
    """``model_input``: the model's input contract, one row per lead.

    Carries the mapped features, ``created_date`` (for time-based validation), the label when
    present and, from ``loaded`` when given, what the reference mapping throws away but a model can
    use: the lower-cased raw city and the raw source/medium/platform levels.
    """
    columns = [*MODEL_INPUT_COLUMNS]
    missing = [col for col in columns if col not in interactions.columns]
    if missing:
        raise KeyError(f"interactions frame lacks {missing}")
    model_input = interactions[columns].copy()
    if loaded is not None:
        raw = loaded.set_index(LEAD_ID)
        position = columns.index(CITY_TIER) + 1
        model_input.insert(position, CITY, model_input[LEAD_ID].map(raw[CITY].str.strip().str.lower()))
        for offset, col in enumerate(CATEGORICAL_COLUMNS, start=1):
            model_input.insert(position + offset, raw_level_column(col), model_input[LEAD_ID].map(raw[col]))
    if LABEL in interactions.columns:
        model_input[LABEL] = interactions[LABEL].astype("int64")
    for col in (*COUNT_COLUMNS, *INTERACTION_GROUPS, CITY_TIER):
        model_input[col] = model_input[col].astype(np.float64)
    return model_input.reset_index(drop=True)
