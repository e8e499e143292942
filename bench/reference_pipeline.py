"""The reference approach of the public CodePro implementations, written plainly as the baseline.

    python bench/reference_pipeline.py --input leads.csv --db reference.db --data-dir data/

Each step reads the previous table back from the database and writes its own whole table with
DataFrame.to_sql(if_exists="replace"); the interactions are melted into one long table, mapped and
pivoted back (pivot_table keyed on the lead's attributes), as those implementations do.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pandas as pd

INDEX_COLUMNS = [
    "created_date",
    "city_tier",
    "first_platform_c",
    "first_utm_medium_c",
    "first_utm_source_c",
    "total_leads_droppped",
    "referred_lead",
    "app_complete_flag",
]


def run(input_path: Path, db_path: Path, data_dir: Path) -> int:
    tiers = json.loads((data_dir / "city_tiers.json").read_text())
    city_tier = {city: float(tier) for tier, cities in tiers["tiers"].items() for city in cities}
    levels = json.loads((data_dir / "significant_levels.json").read_text())["levels"]
    groups = json.loads((data_dir / "interaction_groups.json").read_text())["groups"]
    mapping = pd.DataFrame(
        [(col, group) for group, cols in groups.items() for col in cols],
        columns=["interaction_type", "interaction_mapping"],
    )
    conn = sqlite3.connect(db_path)

    df = pd.read_csv(input_path, na_values=["nan"])
    df["total_leads_droppped"] = df["total_leads_droppped"].fillna(0)
    df["referred_lead"] = df["referred_lead"].fillna(0)
    df.to_sql("loaded_data", conn, if_exists="replace", index=False)

    df = pd.read_sql("select * from loaded_data", conn)
    df["city_tier"] = df["city_mapped"].map(city_tier).fillna(3.0)
    df = df.drop(["city_mapped"], axis=1)
    df.to_sql("city_tier_mapped", conn, if_exists="replace", index=False)

    df = pd.read_sql("select * from city_tier_mapped", conn)
    for column, kept in levels.items():
        df[column] = df[column].where(df[column].isin(kept), "others")
    df.to_sql("categorical_variables_mapped", conn, if_exists="replace", index=False)

    df = pd.read_sql("select * from categorical_variables_mapped", conn)
    df = df.drop_duplicates()
    long = pd.melt(df, id_vars=INDEX_COLUMNS, var_name="interaction_type", value_name="interaction_value")
    long["interaction_value"] = long["interaction_value"].fillna(0)
    long = pd.merge(long, mapping, on="interaction_type", how="left").drop(["interaction_type"], axis=1)
    pivot = long.pivot_table(
        values="interaction_value", index=INDEX_COLUMNS, columns="interaction_mapping", aggfunc="sum"
    ).reset_index()
    pivot.to_sql("interactions_mapped", conn, if_exists="replace", index=False)
    pivot.drop(["created_date"], axis=1).to_sql("model_input", conn, if_exists="replace", index=False)
    conn.close()
    return len(pivot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent.parent / "data")
    args = parser.parse_args()
    print(f"reference pipeline wrote {run(args.input, args.db, args.data_dir)} rows of model_input")


if __name__ == "__main__":
    main()
