"""The reference approach of the case study, as a yardstick: one-hot mapped features, LightGBM defaults, cut 0.5."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.schema import CATEGORICAL_COLUMNS, CITY_TIER, COUNT_COLUMNS, INTERACTION_GROUPS, LABEL

REFERENCE_FEATURES = [CITY_TIER, *CATEGORICAL_COLUMNS, *COUNT_COLUMNS, *INTERACTION_GROUPS]


def reference_scores(train: pd.DataFrame, test: pd.DataFrame) -> NDArray[Any]:
    """Scores of the reference approach trained on ``train``, for ``test``."""
    from lightgbm import LGBMClassifier

    both = pd.get_dummies(
        pd.concat([train[REFERENCE_FEATURES], test[REFERENCE_FEATURES]]), columns=list(CATEGORICAL_COLUMNS), dtype=float
    )
    model = LGBMClassifier(verbose=-1, random_state=42).fit(both.iloc[: len(train)], train[LABEL])
    return np.asarray(model.predict_proba(both.iloc[len(train) :]))[:, 1]
