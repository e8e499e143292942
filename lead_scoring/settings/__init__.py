"""One settings object, read from the environment when asked for, never at import.

What each setting means, its bounds and its default are declared once, in
:mod:`lead_scoring.settings.declaration`; docs/configuration.md is generated from there
(``python -m lead_scoring.settings.doc``, ``make docs``). The knob groups the core receives are
built here, once per settings object (:mod:`lead_scoring.core.knobs`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from lead_scoring.errors import ConfigurationError
from lead_scoring.redaction import redact_text as redact_text
from lead_scoring.redaction import redact_url as redact_url
from lead_scoring.redaction import secrets_in as secrets_in
from lead_scoring.settings.declaration import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from lead_scoring.settings.declaration import Declaration
from lead_scoring.settings.rules import first_problem, one_line

if TYPE_CHECKING:  # built when first asked for: the groups import pandas (through the recipes), the settings do not
    from lead_scoring.core.knobs import BacktestKnobs, FeedbackKnobs, MonitoringKnobs, TrainingKnobs
    from lead_scoring.core.recipes import RecipeSearch
    from lead_scoring.core.targets import Targets

# the environment a `from_env(env)` call reads instead of os.environ, for the duration of that call
_READING: ContextVar[Mapping[str, str] | None] = ContextVar("lead_scoring_settings_env", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source (prefix, aliases, empty is unset) over a given mapping
    (``os.environ`` unless :meth:`Settings.from_env` was given one)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # matched without case, as pydantic-settings does, but only a name written as documented (upper
        # case) counts: `lead_scoring_home` is not LEAD_SCORING_HOME on Linux
        return {key.lower(): value for key, value in self._env.items() if value != "" and key.isupper()}


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _READING.set(env)
    try:
        yield
    finally:
        _READING.reset(token)


class Settings(Declaration):
    """The declared settings, plus the knob groups built from them and a few derived places.

    Build it with :meth:`from_env`; override single fields with :meth:`with_overrides`
    (the CLI does that for its flags, which win over the environment).
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment: no .env file, no secrets folder."""
        env = _READING.get()
        return (init_settings, _MappingEnvSource(settings_cls, os.environ if env is None else env))

    @model_validator(mode="after")
    def _joint_rules(self) -> Settings:
        """The rules bounds cannot say (rules.py): raised as they are, not a ValueError pydantic would wrap."""
        problem = first_problem(self)
        if problem:
            raise ConfigurationError(problem)
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from ``env`` (default: ``os.environ``); keyword overrides win.

        A value that breaks its declaration is a :class:`ConfigurationError` of one line naming the variable."""
        try:
            with _reading(os.environ if env is None else env):
                settings = cls()
        except ValidationError as exc:
            raise ConfigurationError(one_line(cls, exc)) from None
        return settings.with_overrides(**overrides) if overrides else settings

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced and checked again; ``None`` values are ignored (unset CLI flags)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(type(self).model_fields)
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        try:  # model_validate reads no environment: only these values
            return type(self).model_validate({**{k: getattr(self, k) for k in type(self).model_fields}, **given})
        except ValidationError as exc:
            raise ConfigurationError(one_line(type(self), exc)) from None

    # the knob groups the core receives, each built once from the settings
    @cached_property
    def targets(self) -> Targets:
        from lead_scoring.core.targets import Targets

        return Targets(self.target_auc, self.target_precision, self.target_recall)

    @cached_property
    def backtest(self) -> BacktestKnobs:
        from lead_scoring.core.knobs import BacktestKnobs

        return BacktestKnobs(
            months=self.backtest_months,
            validation_share=self.validation_share,
            min_leads=self.min_training_leads,
            min_conversions=self.min_conversions,
            max_leads=self.backtest_max_leads,
        )

    @cached_property
    def recipes(self) -> RecipeSearch:
        """The recipes training chooses among."""
        from lead_scoring.core.recipes import RecipeSearch, candidate_recipes

        if self.recipe_search == "plain":
            return RecipeSearch()
        candidates = candidate_recipes(self.encoding_prior, self.recency_half_life_days)
        return RecipeSearch(candidates, self.promotion_tolerance)

    @cached_property
    def training(self) -> TrainingKnobs:
        from lead_scoring.core.knobs import MIN_COMPARISON_LEADS, TrainingKnobs

        return TrainingKnobs(
            targets=self.targets,
            backtest=self.backtest,
            recall_margin=self.recall_margin,
            min_level_count=self.min_level_count,
            base_rate_days=self.base_rate_days,
            min_comparison_leads=MIN_COMPARISON_LEADS,
            search=self.recipes,
        )

    @cached_property
    def monitoring(self) -> MonitoringKnobs:
        from lead_scoring.core.knobs import MonitoringKnobs

        return MonitoringKnobs(self.drift_limit, self.drift_window_days, self.alarm_quiet_days)

    @cached_property
    def feedback(self) -> FeedbackKnobs:
        from lead_scoring.core.knobs import FeedbackKnobs

        return FeedbackKnobs(
            targets=self.targets,
            min_labelled_leads=self.min_labelled_leads,
            shadow_min_leads=self.shadow_min_leads,
            shadow_action=self.shadow_action,
            outcome_clock_skew_minutes=self.outcome_clock_skew_minutes,
        )

    @property
    def outbox_dir(self) -> Path:
        """Where the daily DAG leaves each day's scored leads for a CRM import or the sales team."""
        return self.home / "outbox"

    def redacted_db_url(self) -> str:
        """The staging URL with any password (user-info or query) masked, for messages and logs."""
        return redact_url(self.db_url)

    def redacted_tracking_uri(self) -> str:
        """The tracking URI with any password or token masked, for links, messages and logs."""
        return redact_url(self.tracking_uri)
