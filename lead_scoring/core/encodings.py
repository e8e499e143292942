"""Target and frequency encodings of the high-cardinality categoricals, fitted on the training leads.

Target encoding: a level's conversion rate, shrunk toward the base rate with a prior of strength
``prior_strength`` leads, ``(positives + m * base) / (leads + m)``: a level seen on few leads says
little, and is read as the base rate; an unseen level is the base rate. Frequency encoding: the
share of the training leads with the level (no labels; an unseen level is 0).

For the training rows themselves the target encoding is *ordered*: each row is encoded from the
leads created strictly before it (the level's counts and the base rate both), so no label of the
row, of a lead created at the same time, or of a later lead reaches its own encoding. Fitted on
every training lead, the same statistics encode the leads scored later, so the served model, batch
scoring and the reasons read one fitted encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lead_scoring.schema import CREATED_DATE, LABEL

MISSING_KEY = "(missing)"
NO_HISTORY_RATE = 0.5  # the base rate of a row with no lead before it (the first lead of the data)


def rate_column(column: str) -> str:
    """The feature holding ``column``'s target encoding."""
    return f"{column}_rate"


def share_column(column: str) -> str:
    """The feature holding ``column``'s frequency encoding."""
    return f"{column}_share"


def _keys(values: pd.Series) -> pd.Series:
    """Levels as text, missing as its own level."""
    return values.astype(object).where(values.notna(), MISSING_KEY).astype(str)


@dataclass
class LevelEncoding:
    """The fitted target and frequency statistics of some categorical columns."""

    columns: tuple[str, ...]
    prior_strength: float
    target: bool = True
    frequency: bool = True
    base_rate: float = NO_HISTORY_RATE
    leads: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> level -> leads
    positives: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> level -> converted leads

    def output_columns(self) -> list[str]:
        return [
            *([rate_column(c) for c in self.columns] if self.target else []),
            *([share_column(c) for c in self.columns] if self.frequency else []),
        ]

    def fit(self, leads: pd.DataFrame) -> LevelEncoding:
        labels = leads[LABEL].astype("int64")
        self.leads, self.base_rate = len(leads), float(labels.mean()) if len(leads) else NO_HISTORY_RATE
        self.counts, self.positives = {}, {}
        for col in self.columns:
            keys = _keys(leads[col])
            self.counts[col] = {str(k): int(v) for k, v in keys.value_counts().items()}
            self.positives[col] = {str(k): int(v) for k, v in labels.groupby(keys.to_numpy()).sum().items()}
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every lead encoded with the statistics of all the training leads (leads scored after training)."""
        out = pd.DataFrame(index=frame.index)
        m = self.prior_strength
        for col in self.columns:
            keys = _keys(frame[col])
            if self.target:
                n = keys.map(self.counts[col]).fillna(0).to_numpy(dtype="float64")
                s = keys.map(self.positives[col]).fillna(0).to_numpy(dtype="float64")
                out[rate_column(col)] = (s + m * self.base_rate) / (n + m)
        for col in self.columns:
            if self.frequency:
                n = _keys(frame[col]).map(self.counts[col]).fillna(0).to_numpy(dtype="float64")
                out[share_column(col)] = n / max(self.leads, 1)
        return out

    def fit_transform_ordered(self, leads: pd.DataFrame) -> pd.DataFrame:
        """Fit on ``leads``, and encode each of them from the leads created strictly before it only.

        The frequency encoding uses no label and is the fitted one; the target encoding of a row
        is its level's rate among the earlier leads, shrunk toward the rate of all the earlier leads.
        """
        self.fit(leads)
        out = self.transform(leads)
        if not self.target:
            return out
        created = pd.to_datetime(leads[CREATED_DATE]).to_numpy()
        labels = leads[LABEL].astype("int64").to_numpy()
        times = pd.DataFrame({"t": created, "y": labels})
        per_time = times.groupby("t", sort=True)["y"].agg(["size", "sum"])
        before_n = (per_time["size"].cumsum() - per_time["size"]).reindex(created).to_numpy(dtype="float64")
        before_s = (per_time["sum"].cumsum() - per_time["sum"]).reindex(created).to_numpy(dtype="float64")
        prior = np.where(before_n > 0, before_s / np.maximum(before_n, 1), NO_HISTORY_RATE)
        m = self.prior_strength
        for col in self.columns:
            keyed = pd.DataFrame({"k": _keys(leads[col]).to_numpy(), "t": created, "y": labels})
            cells = keyed.groupby(["k", "t"], sort=True)["y"].agg(["size", "sum"])
            within = cells.groupby(level="k")
            n_before = (within["size"].cumsum() - cells["size"]).rename("n")
            s_before = (within["sum"].cumsum() - cells["sum"]).rename("s")
            index = pd.MultiIndex.from_arrays([keyed["k"], keyed["t"]])
            n = n_before.reindex(index).to_numpy(dtype="float64")
            s = s_before.reindex(index).to_numpy(dtype="float64")
            out[rate_column(col)] = (s + m * prior) / (n + m)
        return out
