"""The model recipes training chooses among, and the choice: by the backtest months, never a test month.

A recipe says which encodings the features carry, whether the raw city stays a categorical beside
them, and how fast the weight of a training lead decays with its age (recency weights). Training
backtests a handful of them month by month (each month scored by the recipe fitted on the leads
before it) and keeps the one with the best mean AUC over those months, provided no month is worse
than today's plain recipe by more than a tolerance; a more elaborate recipe must earn its place by
more than a noise-level gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lead_scoring.core.encodings import LevelEncoding
from lead_scoring.core.features import CATEGORICAL_FEATURES, LeadFeatures
from lead_scoring.schema import CREATED_DATE


@dataclass(frozen=True)
class Recipe:
    """How a scorer is fitted, beside the booster's parameters."""

    name: str
    target: bool = False  # target encoding of the categoricals (ordered for the training leads)
    frequency: bool = False  # frequency encoding of the categoricals
    raw_city: bool = True  # the raw city stays a categorical feature
    half_life_days: float = 0.0  # recency weights: a lead this many days older weighs half; 0: equal weights
    prior_strength: float = 30.0  # the target encoding's shrinkage toward the base rate, in leads

    def features(self, min_count: int) -> LeadFeatures:
        """Unfitted features of this recipe."""
        encoding = None
        if self.target or self.frequency:
            encoding = LevelEncoding(CATEGORICAL_FEATURES, self.prior_strength, self.target, self.frequency)
        return LeadFeatures(min_count=min_count, encoding=encoding, raw_city=self.raw_city)

    def weights(self, leads: pd.DataFrame) -> NDArray[np.float64] | None:
        """Each training lead's weight, 1 for the newest, halving every ``half_life_days`` before it
        (by ``created_date``); None: equal weights."""
        if not self.half_life_days:
            return None
        dates = pd.to_datetime(leads[CREATED_DATE])
        age_days = (dates.max() - dates).dt.total_seconds().to_numpy(dtype="float64") / 86400.0
        return np.asarray(0.5 ** (age_days / self.half_life_days), dtype="float64")

    def as_params(self) -> dict[str, object]:
        return {
            "recipe": self.name,
            "recipe_target_encoding": self.target,
            "recipe_frequency_encoding": self.frequency,
            "recipe_raw_city": self.raw_city,
            "recipe_half_life_days": self.half_life_days,
            "recipe_prior_strength": self.prior_strength,
        }


PLAIN = Recipe("plain")  # the recipe before encodings and recency weights: the baseline of the choice


def candidate_recipes(prior_strength: float, half_life_days: float) -> tuple[Recipe, ...]:
    """The handful of recipes training backtests, the plain one first."""
    enc = {"target": True, "frequency": True, "prior_strength": prior_strength}
    return (
        PLAIN,
        Recipe("recency", half_life_days=half_life_days),
        Recipe("encoded", **enc),  # type: ignore[arg-type]
        Recipe("encoded+recency", half_life_days=half_life_days, **enc),  # type: ignore[arg-type]
        Recipe("encoded+recency, no raw city", half_life_days=half_life_days, raw_city=False, **enc),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class RecipeSearch:
    """The recipes training backtests and the tolerance of the choice (one candidate: no search)."""

    candidates: tuple[Recipe, ...] = (PLAIN,)
    tolerance: float = 0.005  # AUC a candidate may lose to plain in a backtest month and still be chosen


@dataclass(frozen=True)
class RecipeMonth:
    """One candidate's AUC in one backtest month."""

    recipe: str
    month: str
    auc: float


@dataclass(frozen=True)
class RecipeChoice:
    chosen: Recipe
    candidates: tuple[Recipe, ...]
    months: tuple[RecipeMonth, ...]
    reason: str

    def table(self) -> list[dict[str, object]]:
        """One row per candidate: its AUC in each backtest month, the mean and the worst gap to plain."""
        rows: list[dict[str, object]] = []
        for recipe in self.candidates:
            mine = {m.month: m.auc for m in self.months if m.recipe == recipe.name}
            row: dict[str, object] = {"recipe": recipe.name, **{k: round(v, 4) for k, v in mine.items()}}
            row["mean"] = round(float(np.mean(list(mine.values()))), 4)
            row["chosen"] = recipe.name == self.chosen.name
            rows.append(row)
        return rows


# A candidate replaces the best one before it (simpler) only when its mean backtest AUC is higher by
# more than this: a difference in the fourth decimal is noise between two fits of nearly one model
# (on the real leads, a recency weight moved a month by +-0.003), not a reason to add a part
MIN_GAIN = 0.001


def choose_recipe(candidates: tuple[Recipe, ...], months: tuple[RecipeMonth, ...], tolerance: float) -> RecipeChoice:
    """The candidate with the best mean backtest AUC among those no month of which is below the first
    candidate's (plain) by more than ``tolerance``; a later (more elaborate) candidate must beat the
    best before it by more than :data:`MIN_GAIN`."""
    baseline = candidates[0]
    auc = {(m.recipe, m.month): m.auc for m in months}
    month_names = sorted({m.month for m in months})
    best, best_mean = baseline, float(np.mean([auc[(baseline.name, m)] for m in month_names]))
    for recipe in candidates[1:]:
        gaps = [auc[(recipe.name, m)] - auc[(baseline.name, m)] for m in month_names]
        mean = float(np.mean([auc[(recipe.name, m)] for m in month_names]))
        if min(gaps) >= -tolerance and mean > best_mean + MIN_GAIN:
            best, best_mean = recipe, mean
    reason = (
        f"{best.name}: best mean backtest AUC {best_mean:.4f} over {', '.join(month_names)} "
        f"with no month below {baseline.name} by more than {tolerance} "
        f"(a more elaborate recipe must gain more than {MIN_GAIN})"
    )
    return RecipeChoice(best, candidates, months, reason)
