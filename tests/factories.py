"""Small raw lead exports for tests, written in the raw schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lead_scoring.schema import INTERACTION_COLUMNS, LABEL, RAW_COLUMNS

CITIES = ["mumbai", "agra", "smalltown", None]
LEVELS = ["Level0", "Level3", "Level99", None]


def cells(values: pd.Series) -> list[object]:
    """The cells of ``values`` with every missing one as None (pandas 3's text dtype holds NaN)."""
    return [None if pd.isna(v) else v for v in values.tolist()]


def raw_leads(rows: int = 8, with_label: bool = True) -> pd.DataFrame:
    """Distinct, valid raw leads covering tier 1/2/unknown/missing cities and kept/rare/missing levels."""
    data = {
        "created_date": [f"2021-08-{1 + i % 28:02d} 10:{i % 60:02d}:00" for i in range(rows)],
        "city_mapped": [CITIES[i % 4] for i in range(rows)],
        "first_platform_c": [LEVELS[i % 4] for i in range(rows)],
        "first_utm_medium_c": [LEVELS[(i + 1) % 4] for i in range(rows)],
        "first_utm_source_c": [LEVELS[(i + 2) % 4] for i in range(rows)],
        "total_leads_droppped": [float(i % 3) if i % 5 else None for i in range(rows)],
        "referred_lead": [float(i % 2) if i % 7 else None for i in range(rows)],
    }
    for j, col in enumerate(INTERACTION_COLUMNS):
        data[col] = [float(i + j) if (i + j) % 9 == 0 else None for i in range(rows)]
    data[LABEL] = [i % 2 for i in range(rows)]
    frame = pd.DataFrame(data)[list(RAW_COLUMNS)]
    return frame if with_label else frame.drop(columns=[LABEL])


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the CSV reader hands it to validation: text cells, None for missing."""
    return frame.map(lambda v: None if pd.isna(v) else str(v))


def prepare_and_train(home: Path, leads: pd.DataFrame, *extra_train_args: str) -> None:
    """Prepare ``leads`` into ``home`` and train a first champion there (LEAD_SCORING_HOME must point at it)."""
    from lead_scoring.cli import main

    write_csv(leads, home / "training_leads.csv")
    assert main(["prepare", "--input", str(home / "training_leads.csv")]) == 0
    assert main(["train", *extra_train_args]) == 0


def model_input_frame(rows: int, **columns: list) -> pd.DataFrame:
    """A ``model_input`` frame of ``rows`` leads with every feature column the model reads: the given
    columns as given, every other numeric feature missing and every other categorical ``Level0``."""
    from lead_scoring.core.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    data: dict[str, list] = {col: [None] * rows for col in NUMERIC_FEATURES}
    data.update({col: ["Level0"] * rows for col in CATEGORICAL_FEATURES})
    data.update(columns)
    frame = pd.DataFrame(data)
    for col in NUMERIC_FEATURES:
        frame[col] = frame[col].astype("float64")
    return frame


def training_knobs(*, months=3, min_leads=1000, min_conversions=100, max_leads=0, search=None):  # noqa: ANN001, ANN201
    """The knobs of train() as the settings default them (the case study's targets, a 0.08 recall
    margin, levels of at least 30 leads), with the backtest's numbers and the recipe search as given."""
    from lead_scoring.core.knobs import BacktestKnobs, TrainingKnobs
    from lead_scoring.core.targets import Targets

    return TrainingKnobs(
        targets=Targets(auc=0.75, precision=0.65, recall=0.75),
        backtest=BacktestKnobs(months, 0.2, min_leads, min_conversions, max_leads),
        recall_margin=0.08,
        min_level_count=30,
        base_rate_days=0,
        min_comparison_leads=200,
        search=search,
    )
