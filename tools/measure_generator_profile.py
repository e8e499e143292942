"""Measure the figures the synthetic lead generator follows, from a real CodePro export.

    python tools/measure_generator_profile.py --data-dir ../shared/data/codepro \
        --out lead_scoring/generator_profile.json

Writes aggregates only (frequencies, rates, model coefficients), never rows. Not imported by the package.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from lead_scoring.schema import (
    CATEGORICAL_COLUMNS,
    CITY,
    INTERACTION_COLUMNS,
    LABEL,
    REFERRED_LEAD,
    TOTAL_LEADS_DROPPED,
)

MIN_COMBO = 20  # (platform, medium, source) combinations rarer than this are sampled column by column
MIN_CITY = 10


def measure(leads: pd.DataFrame) -> dict:
    created = pd.to_datetime(leads["created_date"])
    combo = leads[list(CATEGORICAL_COLUMNS)].fillna("").agg("|".join, axis=1)
    combo_counts = combo.value_counts()
    frequent = combo_counts[combo_counts >= MIN_COMBO]
    rare = leads[~combo.isin(frequent.index)]
    city_counts = leads[CITY].value_counts()
    frequent_cities = city_counts[city_counts >= MIN_CITY]
    rare_cities = sorted(city_counts[city_counts < MIN_CITY].index)
    dropped = leads[TOTAL_LEADS_DROPPED].value_counts(normalize=True, dropna=True)

    features = pd.DataFrame(
        {
            "combo": np.where(combo.isin(frequent.index), combo, "other"),
            "city": np.where(leads[CITY].isin(frequent_cities.index), leads[CITY], "other"),
            "nocity": leads[CITY].isna().astype(int),
            "referred": leads[REFERRED_LEAD].fillna(0),
            "dropped": leads[TOTAL_LEADS_DROPPED].fillna(1).clip(upper=6),
            "hour": created.dt.hour,
            "weekday": created.dt.weekday,
        }
    )
    design = pd.get_dummies(features.astype(str), dtype=float)
    model = LogisticRegression(C=0.5, max_iter=2000).fit(design, leads[LABEL])
    coefficients = dict(zip(design.columns, model.coef_[0].round(4).tolist(), strict=True))

    def effects(prefix: str) -> dict[str, float]:
        return {k.removeprefix(prefix): v for k, v in coefficients.items() if k.startswith(prefix)}

    return {
        "source": "aggregates of the CodePro leads 2021-07..2021-12 (20k); no rows",
        "hour_share": _shares(created.dt.hour, range(24)),
        "weekday_share": _shares(created.dt.weekday, range(7)),
        "combos": {"levels": frequent.index.tolist(), "share": (frequent / len(leads)).round(6).tolist()},
        "rare_combo_share": round(1 - frequent.sum() / len(leads), 6),
        "rare_levels": {col: rare[col].value_counts(normalize=True).round(6).to_dict() for col in CATEGORICAL_COLUMNS},
        "cities": {"names": frequent_cities.index.tolist(), "share": (frequent_cities / len(leads)).round(6).tolist()},
        "rare_cities": rare_cities,
        "rare_city_share": round(city_counts[city_counts < MIN_CITY].sum() / len(leads), 6),
        "city_missing_share": round(float(leads[CITY].isna().mean()), 6),
        "dropped_share": {str(k): round(float(v), 6) for k, v in dropped.items()},
        "count_missing_share": round(float(leads[TOTAL_LEADS_DROPPED].isna().mean()), 6),
        "referred_share": round(float(leads[REFERRED_LEAD].mean()), 6),
        "interaction_present_share": round(float(leads[list(INTERACTION_COLUMNS)].notna().any(axis=1).mean()), 6),
        "conversion_model": {
            "intercept": round(float(model.intercept_[0]), 4),
            "combo": effects("combo_"),
            "city": effects("city_"),
            "nocity": effects("nocity_"),
            "referred": effects("referred_"),
            "dropped": effects("dropped_"),
            "hour": effects("hour_"),
            "weekday": effects("weekday_"),
        },
    }


def _shares(values: pd.Series, domain: range) -> list[float]:
    counts = values.value_counts().reindex(list(domain), fill_value=0)
    return (counts / counts.sum()).round(6).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    leads = pd.read_csv(args.data_dir / "leads_2021H2.csv", na_values=["nan"]).drop_duplicates()
    args.out.write_text(json.dumps(measure(leads), indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
