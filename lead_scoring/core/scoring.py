"""Pure scoring helpers: buckets, the predictions frame, what was unusual in a batch, and the summary of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from lead_scoring.schema import CREATED_DATE, LEAD_ID

if TYPE_CHECKING:
    from lead_scoring.core.daily_share import ShareDecision
    from lead_scoring.core.monitoring import DriftReport, DriftStatus

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
Role = Literal["champion", "shadow"]
CHAMPION_ROLE: Role = "champion"
SHADOW_ROLE: Role = "shadow"


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


def mark_stream(predictions: pd.DataFrame, model_input: pd.DataFrame, role: Role, production: bool) -> pd.DataFrame:
    """The rows with what the point-in-time rank pool filters on: the role that wrote them (a
    ``shadow`` is never acted on), whether they belong to the production stream (scheduled or
    backfilled days, a file scored with ``--production``) and each lead's ``created_date``."""
    marked = predictions.copy()
    created = model_input.set_index(model_input[LEAD_ID].astype(str))[CREATED_DATE]
    marked["role"] = role
    marked["production"] = int(production)
    marked[CREATED_DATE] = pd.to_datetime(marked[LEAD_ID].map(created))
    return marked


def pool_line(pool: int, batch: int, min_pool: int | None, cut: float, before: object) -> str:
    """How the batch's flags were decided, for a person: ranked in the pool, or the reference cut (and why)."""
    when = f"created before {pd.Timestamp(before):%Y-%m-%d %H:%M}" if before is not None else "none"
    if min_pool is None:
        return f"absolute cut {cut:.3f}"
    if pool + batch >= min_pool:
        return f"ranked among {pool:,} production leads {when} and the batch (cut {cut:.3f})"
    return f"reference cut {cut:.3f}: only {pool:,} production leads {when} + {batch:,} in the batch (< {min_pool:,})"


def scoring_run_name(run_key: str, source: str, rows: int) -> str:
    """An MLflow run name that says what the run is: ``score 2021-12-01`` for a day of the daily DAG,
    ``score new_leads.csv · 2,000 leads`` for a file scored from the command line."""
    if run_key.startswith("interval:"):
        return f"score {run_key.removeprefix('interval:')[:10]}"
    name = source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source
    return f"score {name} · {rows:,} leads"


@dataclass(frozen=True)
class ScoringSummary:
    """What one scoring run did: the `scoring_runs` record and the CLI summary."""

    run_key: str
    source: str
    model_name: str
    model_version: str
    rows_scored: int
    monitoring: DriftReport
    duplicates_dropped: int = 0
    positives: int = 0
    buckets: Mapping[str, int] = field(default_factory=dict)
    unusual: Mapping[str, int] = field(default_factory=dict)  # every count, recorded in scoring_runs
    thin: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # counts past the training share
    seconds: float = 0.0
    hottest: pd.DataFrame | None = field(default=None, repr=False)
    decision: str = ""  # how the flags were decided (pool_line)
    pool_leads: int = 0  # production leads the batch was ranked among
    share: ShareDecision | None = None  # the day's share and why (core.daily_share)
    alarm: str = ""  # the alarm line (core.alarms), empty when there is none
    alarm_state: str = "none"  # none / opened / open / closed (core.alarms.AlarmState)
    alarm_id: str = ""

    @property
    def status(self) -> DriftStatus:
        return self.monitoring.status
