"""The knobs of each concern as one frozen value: built once from the settings, passed whole.

:class:`~lead_scoring.settings.Settings` builds each group once (``settings.training``,
``settings.backtest``, ``settings.monitoring``, ``settings.feedback``, ``settings.targets``); the
core receives the group it needs, never the settings. What each knob means, its bounds and its
default are declared once, on the settings (docs/configuration.md is generated from there): the
groups here have no defaults of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lead_scoring.core.recipes import RecipeSearch
from lead_scoring.core.targets import Targets

ShadowAction = Literal["promote", "report"]
MIN_COMPARISON_LEADS = 200  # leads neither the champion nor the candidate's comparison fit saw (not a setting)


@dataclass(frozen=True)
class BacktestKnobs:
    """How the rolling-origin backtest months are planned (:func:`~lead_scoring.core.backtest.plan_backtest`)."""

    months: int  # the last this many eligible months, each scored by a model fitted on the leads before it
    validation_share: float  # the newest share of a fit's leads its validation rule's cut is chosen on
    min_leads: int  # leads a month needs to be eligible
    min_conversions: int  # conversions a month needs to be eligible
    max_leads: int  # a fold fits on at most the newest this many leads before its month (0: all)


@dataclass(frozen=True)
class TrainingKnobs:
    """Everything :func:`~lead_scoring.core.training.train` reads besides the leads."""

    targets: Targets
    backtest: BacktestKnobs
    recall_margin: float  # the validation cut is chosen for recall >= the target + this
    min_level_count: int  # rarer categorical levels are grouped as "other"
    base_rate_days: int  # the policy follows the base rate of the leads of the last this many days (0: not)
    min_comparison_leads: int  # leads after the champion's cut-off a like-for-like comparison needs
    search: RecipeSearch | None  # the recipes to choose among (None: the plain one)

    @property
    def validation_share(self) -> float:
        return self.backtest.validation_share

    @property
    def min_recall(self) -> float:
        """The recall a validation cut is chosen for: the target plus the margin."""
        return self.targets.recall + self.recall_margin


@dataclass(frozen=True)
class MonitoringKnobs:
    """The daily drift check and its alarm (pipelines.inference, :func:`~lead_scoring.core.alarms.decide_alarm`)."""

    drift_limit: float  # a feature's PSI above this is drift
    drift_window_days: int  # a day's drift is measured on the production leads of this many days ending with it
    alarm_quiet_days: int  # an open alarm closes on this many quiet days in a row


@dataclass(frozen=True)
class FeedbackKnobs:
    """The weekly verdict on realized outcomes and the shadow comparison (pipelines.feedback, pipelines.shadow)."""

    targets: Targets
    min_labelled_leads: int  # labelled leads a week needs before its figures are computed
    shadow_min_leads: int  # labelled leads a shadow comparison needs
    shadow_action: ShadowAction  # what a shadow version that beats the champion gets
    outcome_clock_skew_minutes: int  # an outcome dated more than this after its file arrived is ignored
