"""Synthetic CodePro leads in the raw export schema, shaped like the real ones.

The figures (time-of-day and weekday profile, source/medium/platform combinations, cities, counts,
and a logistic conversion model) were measured on the real leads by
``tools/measure_generator_profile.py`` and ship as ``generator_profile.json``: aggregates only.
Fully vectorised: a million leads take a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core.days import parse_day_range
from lead_scoring.schema import (
    CATEGORICAL_COLUMNS,
    CITY,
    CREATED_DATE,
    INTERACTION_COLUMNS,
    LABEL,
    RAW_COLUMNS,
    RAW_FEATURE_COLUMNS,
    REFERRED_LEAD,
    TOTAL_LEADS_DROPPED,
)


@lru_cache(maxsize=1)
def load_profile() -> dict[str, Any]:
    """The measured figures the generator follows."""
    return json.loads(resources.files("lead_scoring").joinpath("generator_profile.json").read_text("utf-8"))


def generate_leads(
    rows: int,
    seed: int = 0,
    start: str = "2021-07-01",
    end: str = "2021-12-31",
    with_label: bool = True,
) -> pd.DataFrame:
    """``rows`` synthetic leads created in [start, end], deterministic for a seed."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    profile = load_profile()
    rng = np.random.default_rng(seed)
    created = _created_dates(rng, rows, start, end, profile)
    combo, levels = _levels(rng, rows, profile)
    city, city_key = _cities(rng, rows, profile)
    dropped = rng.choice(
        np.array(list(profile["dropped_share"]), dtype=float),
        size=rows,
        p=_normalised(profile["dropped_share"].values()),
    )
    referred = (rng.random(rows) < profile["referred_share"]).astype(float)

    frame = pd.DataFrame({CREATED_DATE: created.strftime("%Y-%m-%d %H:%M:%S"), CITY: city, **levels})
    frame[TOTAL_LEADS_DROPPED] = _with_missing(rng, dropped, profile["count_missing_share"])
    frame[REFERRED_LEAD] = _with_missing(rng, referred, profile["count_missing_share"])
    for column, values in _interactions(rng, rows, profile).items():
        frame[column] = values
    if with_label:
        logit = _conversion_logit(profile["conversion_model"], combo, city_key, referred, dropped, created)
        frame[LABEL] = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return frame[list(RAW_COLUMNS if with_label else RAW_FEATURE_COLUMNS)]


def _created_dates(
    rng: np.random.Generator, rows: int, start: str, end: str, profile: dict[str, Any]
) -> pd.DatetimeIndex:
    first, last = parse_day_range(start, end, "--start", "--end")
    days = pd.date_range(first, last, freq="D")
    day_weight = np.asarray(profile["weekday_share"])[days.weekday]
    day = rng.choice(days.values, size=rows, p=day_weight / day_weight.sum())
    hour = rng.choice(24, size=rows, p=_normalised(profile["hour_share"]))
    seconds = hour * 3600 + rng.integers(0, 3600, size=rows)
    return pd.DatetimeIndex(day + seconds.astype("timedelta64[s]"))


def _levels(
    rng: np.random.Generator, rows: int, profile: dict[str, Any]
) -> tuple[NDArray[Any], dict[str, NDArray[Any]]]:
    combos = profile["combos"]
    known = np.array(combos["levels"] + ["other"], dtype=object)
    share = np.append(combos["share"], profile["rare_combo_share"])
    combo = rng.choice(known, size=rows, p=share / share.sum())
    parts = np.array([c.split("|") if c != "other" else ["", "", ""] for c in known], dtype=object)
    index = pd.Index(known).get_indexer(combo)
    levels = {}
    rare = combo == "other"
    for position, column in enumerate(CATEGORICAL_COLUMNS):
        values = parts[index, position].astype(object)
        tail = profile["rare_levels"][column]
        values[rare] = rng.choice(
            np.array(list(tail), dtype=object), size=int(rare.sum()), p=_normalised(tail.values())
        )
        values[values == ""] = None
        levels[column] = values
    return combo, levels


def _cities(rng: np.random.Generator, rows: int, profile: dict[str, Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    names = profile["cities"]["names"]
    choices = np.array([*names, "<rare>", "<missing>"], dtype=object)
    share = np.array([*profile["cities"]["share"], profile["rare_city_share"], profile["city_missing_share"]])
    key = rng.choice(choices, size=rows, p=share / share.sum())
    city = key.copy()
    rare = key == "<rare>"
    city[rare] = rng.choice(np.array(profile["rare_cities"], dtype=object), size=int(rare.sum()))
    city[key == "<missing>"] = None
    key[rare] = "other"
    return city, key


def _interactions(rng: np.random.Generator, rows: int, profile: dict[str, Any]) -> dict[str, NDArray[Any]]:
    """The 37 counters: missing on almost every lead, as in the real exports."""
    present = rng.random(rows) < profile["interaction_present_share"]
    columns = {}
    for column in INTERACTION_COLUMNS:
        values = np.full(rows, np.nan)
        hit = present & (rng.random(rows) < 0.2)
        values[hit] = rng.geometric(0.2, size=int(hit.sum())).astype(float)
        columns[column] = values
    return columns


def _conversion_logit(
    model: dict[str, Any],
    combo: NDArray[Any],
    city_key: NDArray[Any],
    referred: NDArray[Any],
    dropped: NDArray[Any],
    created: pd.DatetimeIndex,
) -> NDArray[Any]:
    def effect(table: dict[str, float], keys: NDArray[Any]) -> NDArray[Any]:
        return pd.Series(keys).map(table).fillna(0.0).to_numpy()

    missing = (city_key == "<missing>").astype(int).astype(str)
    return (
        model["intercept"]
        + effect(model["combo"], combo)
        + effect(model["city"], city_key)
        + effect(model["nocity"], missing)
        + effect(model["referred"], referred.astype(str))
        + effect(model["dropped"], np.minimum(dropped, 6.0).astype(str))
        + effect(model["hour"], created.hour.astype(str).to_numpy())
        + effect(model["weekday"], created.weekday.astype(str).to_numpy())
    )


def _with_missing(rng: np.random.Generator, values: NDArray[Any], share: float) -> NDArray[Any]:
    out = values.astype(float).copy()
    out[rng.random(len(out)) < share] = np.nan
    return out


def _normalised(values: Iterable[float]) -> NDArray[Any]:
    weights = np.asarray(list(values), dtype=float)
    return weights / weights.sum()


def write_outcomes(leads: pd.DataFrame, out_path: Path) -> None:
    """The leads' outcomes, keyed by the lead ids scoring derives from the same rows read back from CSV."""
    import tempfile

    from lead_scoring.adapters.exports import write_spreadsheet_csv
    from lead_scoring.core.feedback import outcomes_from_labelled
    from lead_scoring.pipelines.data import read_and_validate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.csv"
        leads.to_csv(path, index=False)
        validated, _ = read_and_validate(path)
    write_spreadsheet_csv(outcomes_from_labelled(validated), out_path)
