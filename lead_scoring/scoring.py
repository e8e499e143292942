"""Pure scoring helpers: buckets, the predictions frame, and what was unusual in a batch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from lead_scoring.schema import CITY, INTERACTION_GROUPS, LEAD_ID

PREDICTION_COLUMNS: tuple[str, ...] = (
    LEAD_ID,
    "score",
    "predicted_label",
    "bucket",
    "top_reasons",
    "model_name",
    "model_version",
    "scored_at",
)

HOT, WARM, COLD = "hot", "warm", "cold"


def assign_buckets(scores: pd.Series, hot_cutoff: float, warm_cutoff: float) -> pd.Series:
    """hot at or above ``hot_cutoff``, warm at or above ``warm_cutoff``, cold below."""
    if not 0.0 <= warm_cutoff <= hot_cutoff <= 1.0:
        raise ValueError(f"bucket cut-offs must satisfy 0 <= warm ({warm_cutoff}) <= hot ({hot_cutoff}) <= 1")
    values = np.where(scores >= hot_cutoff, HOT, np.where(scores >= warm_cutoff, WARM, COLD))
    return pd.Series(values, index=scores.index, dtype=object)


def build_predictions(
    lead_ids: pd.Series,
    model_output: pd.DataFrame,
    *,
    model_name: str,
    model_version: str,
    scored_at: datetime,
    hot_cutoff: float,
    warm_cutoff: float,
) -> pd.DataFrame:
    """The ``predictions`` rows of one batch, hottest first."""
    scores = model_output["score"].astype("float64").reset_index(drop=True)
    frame = pd.DataFrame(
        {
            LEAD_ID: lead_ids.reset_index(drop=True).astype(str),
            "score": scores,
            "predicted_label": model_output["predicted_label"].astype("int64").reset_index(drop=True),
            "bucket": assign_buckets(scores, hot_cutoff, warm_cutoff),
            "top_reasons": model_output["top_reasons"].astype(str).reset_index(drop=True),
            "model_name": model_name,
            "model_version": str(model_version),
            "scored_at": pd.Timestamp(scored_at),  # naive UTC
        }
    )
    # numpy's lexsort of fixed-width text: 5x faster than sort_values on a million object strings
    order = np.lexsort((frame[LEAD_ID].to_numpy().astype(str), -frame["score"].to_numpy()))
    return frame.take(order).reset_index(drop=True)


def scoring_run_name(run_key: str, source: str, rows: int) -> str:
    """An MLflow run name that says what the run is: ``score 2021-12-01`` for a day of the daily DAG,
    ``score new_leads.csv · 2,000 leads`` for a file scored from the command line."""
    if run_key.startswith("interval:"):
        return f"score {run_key.removeprefix('interval:')[:10]}"
    name = source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source
    return f"score {name} · {rows:,} leads"


def unusual_inputs(model_input: pd.DataFrame, known_levels: Mapping[str, set[str]]) -> dict[str, int]:
    """Counts of leads the model has to score on thin evidence: unseen levels, no city, no interactions.

    ``known_levels`` maps a categorical column to the levels seen in training.
    """
    counts: dict[str, int] = {}
    for col, levels in known_levels.items():
        if col in model_input.columns:
            values = model_input[col]
            counts[f"unseen_{col}"] = int((values.notna() & ~values.isin(levels)).sum())
    if CITY in model_input.columns:
        counts["missing_city"] = int(model_input[CITY].isna().sum())
    groups = [g for g in INTERACTION_GROUPS if g in model_input.columns]
    if groups:
        counts["no_interactions"] = int((model_input[groups].fillna(0).sum(axis=1) == 0).sum())
    return counts
