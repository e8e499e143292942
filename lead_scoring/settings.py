"""One settings object, read from the environment when asked for, never at import."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from lead_scoring.errors import ConfigurationError
from lead_scoring.redaction import redact_text as redact_text
from lead_scoring.redaction import redact_url as redact_url
from lead_scoring.redaction import secrets_in as secrets_in


def _project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# Environment variable -> settings field, for the plain (non-path) settings.
_ENV_FIELDS: dict[str, str] = {
    "LEAD_SCORING_EXPERIMENT": "experiment_name",
    "LEAD_SCORING_MODEL_NAME": "model_name",
    "LEAD_SCORING_VALIDATION_SHARE": "validation_share",
    "LEAD_SCORING_TARGET_AUC": "target_auc",
    "LEAD_SCORING_TARGET_PRECISION": "target_precision",
    "LEAD_SCORING_TARGET_RECALL": "target_recall",
    "LEAD_SCORING_RECALL_MARGIN": "recall_margin",
    "LEAD_SCORING_MIN_LEVEL_COUNT": "min_level_count",
    "LEAD_SCORING_PROMOTION_TOLERANCE": "promotion_tolerance",
    "LEAD_SCORING_MIN_TRAINING_LEADS": "min_training_leads",
    "LEAD_SCORING_MIN_CONVERSIONS": "min_conversions",
    "LEAD_SCORING_HOT_CUTOFF": "hot_cutoff",
    "LEAD_SCORING_WARM_CUTOFF": "warm_cutoff",
    "LEAD_SCORING_DRIFT_LIMIT": "drift_limit",
    "LEAD_SCORING_DRIFT_WINDOW_DAYS": "drift_window_days",
    "LEAD_SCORING_ALARM_QUIET_DAYS": "alarm_quiet_days",
    "LEAD_SCORING_MAX_STAGING_AGE_DAYS": "max_staging_age_days",
    "LEAD_SCORING_BACKTEST_MONTHS": "backtest_months",
    "LEAD_SCORING_POLICY_POOL": "policy_pool",
    "LEAD_SCORING_BACKTEST_MAX_LEADS": "backtest_max_leads",
    "LEAD_SCORING_MIN_LABELLED_LEADS": "min_labelled_leads",
    "LEAD_SCORING_SHRINK_LIMIT": "shrink_limit",
    "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS": "inference_max_active_runs",
    "LEAD_SCORING_OUTCOME_CLOCK_SKEW_MINUTES": "outcome_clock_skew_minutes",
    "LEAD_SCORING_BASE_RATE_DAYS": "base_rate_days",
    "LEAD_SCORING_SHADOW_MIN_LEADS": "shadow_min_leads",
    "LEAD_SCORING_SHADOW_ACTION": "shadow_action",
    "LEAD_SCORING_SHARE_MARGIN": "share_margin",
    "LEAD_SCORING_WARM_POOL_DAYS": "warm_pool_days",
    "LEAD_SCORING_BASE_RATE_TOLERANCE": "base_rate_tolerance",
    "LEAD_SCORING_RECIPE_SEARCH": "recipe_search",
    "LEAD_SCORING_ENCODING_PRIOR": "encoding_prior",
    "LEAD_SCORING_RECENCY_HALF_LIFE_DAYS": "recency_half_life_days",
    "LEAD_SCORING_ALERT_EMAILS": "alert_emails",
    "LEAD_SCORING_AIRFLOW_URL": "airflow_url",
    "LEAD_SCORING_MLFLOW_URL": "mlflow_url",
}
# the path and URL settings, named as a person set them
_PATH_VARIABLES: dict[str, str] = {
    "home": "LEAD_SCORING_HOME",
    "db_url": "LEAD_SCORING_DB_URL",
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "artifact_root": "LEAD_SCORING_ARTIFACT_ROOT",
    "data_dir": "LEAD_SCORING_DATA_DIR",
    "city_tier_path": "LEAD_SCORING_CITY_TIERS",
    "significant_levels_path": "LEAD_SCORING_SIGNIFICANT_LEVELS",
    "interaction_groups_path": "LEAD_SCORING_INTERACTION_GROUPS",
    "landing_dir": "LEAD_SCORING_LANDING_DIR",
    "outcomes_dir": "LEAD_SCORING_OUTCOMES_DIR",
}
_VARIABLES = {**{name: var for var, name in _ENV_FIELDS.items()}, **_PATH_VARIABLES}
_FOLDERS = ("home", "artifact_root", "data_dir", "landing_dir", "outcomes_dir")
MAX_PATH_CHARS = 4096  # Linux's PATH_MAX; a longer path fails in every call that opens it
MAX_NAME_CHARS = 255  # one file or folder name (NAME_MAX)
MAX_TEXT_CHARS = 250  # a name MLflow stores (experiment, registered model, the user of a move)
MAX_COUNT = 10**9  # leads, levels, runs: beyond any export this system takes
MAX_DAYS = 36_600  # a century of days: more overflows pandas' time range


@dataclass(frozen=True)
class Settings:
    """Where things live and the knobs of training and scoring.

    Build it with :meth:`from_env`; override single fields with :meth:`with_overrides`
    (the CLI does that for its flags, which win over the environment).
    """

    home: Path
    db_url: str
    tracking_uri: str
    artifact_root: Path
    data_dir: Path
    city_tier_path: Path
    significant_levels_path: Path
    interaction_groups_path: Path
    landing_dir: Path
    outcomes_dir: Path
    experiment_name: str = "lead_scoring"
    model_name: str = "lead_scoring"
    validation_share: float = 0.2
    target_auc: float = 0.75
    target_precision: float = 0.65
    target_recall: float = 0.75
    # the threshold is chosen for recall >= target + margin on the validation leads: later leads
    # score lower (Dec 2021 vs Nov), and the margin keeps their recall above the target
    recall_margin: float = 0.08
    min_level_count: int = 30  # rarer categorical levels are grouped as "other" by the features
    promotion_tolerance: float = 0.005
    min_training_leads: int = 1000
    min_conversions: int = 100
    hot_cutoff: float = 0.7
    warm_cutoff: float = 0.4
    drift_limit: float = 0.25
    # a day's drift is measured on the production leads of this many days ending with it: a day of a
    # hundred leads alone is too noisy for PSI, and a week holds every weekday once
    drift_window_days: int = 7
    # an open drift alarm closes on this many days in a row without drift: drifted, quiet, drifted
    # is one episode (one alert), not two
    alarm_quiet_days: int = 3
    max_staging_age_days: int = 0  # 0: no freshness limit on model_input
    backtest_months: int = 3  # rolling-origin months scored at training, the decision policy chosen on them
    policy_pool: int = 2000  # latest predictions of the scoring version a rank policy ranks a batch among
    backtest_max_leads: int = 200_000  # a backtest fold fits on at most this many of the newest leads (0: all)
    min_labelled_leads: int = 200  # labelled leads a week needs before its realized figures are computed
    # an export with fewer leads than this share of the published model_input's is refused unless
    # the run allows the shrink (--allow-shrink, the data DAG's allow_shrink); 0: no limit
    shrink_limit: float = 0.5
    # days of the daily inference DAG that run at once (a backfill spread over the workers); each
    # run writes only its own rows, but SQLite has one writer at a time: 1 there
    inference_max_active_runs: int = 1
    # an outcome dated more than this after its file arrived is ignored (a label from the future
    # would beat every true label that comes later); the minutes allow for clocks that differ
    outcome_clock_skew_minutes: int = 10
    # the decision policy follows the conversion rate of the labelled leads of the last this many
    # days (a label-shift reweighting of the backtest months, docs/replay.md); 0: it does not
    base_rate_days: int = 28
    # a shadow version that beats the champion on at least this many of the same labelled leads is
    # promoted (shadow_action "promote") or only reported ("report") by the feedback run
    shadow_min_leads: int = 500
    shadow_action: str = "report"
    # the daily share (docs/model.md): the room to both targets that counts as a margin; the days of a
    # warm rank pool; how far the base-rate estimate may stray from the labelled rate and be followed
    share_margin: float = 0.02
    warm_pool_days: int = 28
    base_rate_tolerance: float = 0.05
    # the recipe (docs/model.md): "backtest" or "plain"; the target encoding's prior; recency half-life
    recipe_search: str = "backtest"
    encoding_prior: float = 30.0
    recency_half_life_days: float = 45.0
    # the operators' mail (docs/alerts.md): comma-separated recipients of the DAGs' failure and alarm
    # mails ("": no mail), and the UI base URLs their links are built from ("": no link)
    alert_emails: str = ""
    airflow_url: str = ""
    mlflow_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from ``env`` (default: ``os.environ``); keyword overrides win."""
        env = os.environ if env is None else env
        home = Path(env.get("LEAD_SCORING_HOME") or _project_root()).expanduser()
        data_dir = Path(env.get("LEAD_SCORING_DATA_DIR") or _project_root() / "data").expanduser()
        values: dict[str, Any] = {
            "home": home,
            "db_url": env.get("LEAD_SCORING_DB_URL") or _sqlite_url(home / "lead_scoring.db"),
            "tracking_uri": env.get("MLFLOW_TRACKING_URI") or _sqlite_url(home / "mlflow.db"),
            "artifact_root": Path(env.get("LEAD_SCORING_ARTIFACT_ROOT") or home / "mlruns"),
            "data_dir": data_dir,
            "city_tier_path": Path(env.get("LEAD_SCORING_CITY_TIERS") or data_dir / "city_tiers.json"),
            "significant_levels_path": Path(
                env.get("LEAD_SCORING_SIGNIFICANT_LEVELS") or data_dir / "significant_levels.json"
            ),
            "interaction_groups_path": Path(
                env.get("LEAD_SCORING_INTERACTION_GROUPS") or data_dir / "interaction_groups.json"
            ),
            "landing_dir": Path(env.get("LEAD_SCORING_LANDING_DIR") or home / "landing"),
            "outcomes_dir": Path(env.get("LEAD_SCORING_OUTCOMES_DIR") or home / "landing" / "outcomes"),
        }
        types = get_type_hints(cls)
        for var, name in _ENV_FIELDS.items():
            if env.get(var):
                values[name] = _parse(var, env[var], types[name])
        settings = cls(**values)
        return settings.with_overrides(**overrides) if overrides else settings

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise ConfigurationError(problem)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored (unset CLI flags)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **given)

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


# query parameters whose value is a credential (libpq's `?password=`, tokens, keys): masked like a password
def _parse(var: str, raw: str, kind: type) -> int | float | str:
    """One environment value as its field's type (the real type hint, not its text)."""
    if kind not in (int, float, str):
        raise TypeError(f"the settings field of {var} is a {kind!r}: only int, float and str are read from text")
    try:
        value: int | float | str = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{var}={_shown(raw)} is not a valid {kind.__name__}") from None
    if isinstance(value, float) and not math.isfinite(value):  # float() reads "inf" and "nan"
        raise ConfigurationError(f"{var}={_shown(raw)} is not a finite number")
    return value


def _shown(value: object) -> str:
    """A value as a message quotes it: a 100,000-character one is cut, so the message stays one short line."""
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(str(value)):,} characters)"


def _path_problem(value: str | Path, name: str) -> str | None:
    """Why a path (or a URL: only its form) cannot be what the setting needs, or None."""
    text = str(value)
    if "\x00" in text:
        return "contains a NUL byte"
    if len(text) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS:,} characters"
    if name == "tracking_uri":  # MLflow's own: "databricks" is one too
        return None
    if name == "db_url":
        if "://" not in text:
            return "is not a URL (e.g. sqlite:////path/to/file.db or postgresql://host/db)"
        return None  # a SQLite file that is a folder, or under a file: the staging database says so
    where = Path(value).expanduser()
    if any(len(part) > MAX_NAME_CHARS for part in where.parts):
        return f"has a name longer than {MAX_NAME_CHARS} characters"
    try:
        if name in _FOLDERS and where.exists() and not where.is_dir():
            return "is a file, not a folder"
        if name not in _FOLDERS and where.is_dir():
            return "is a folder, not a file"
        parent = next((p for p in where.parents if p.exists()), None)
    except OSError as exc:  # a path the system cannot even look at
        return f"cannot be read ({exc.strerror})"
    if parent is not None and not parent.is_dir():
        return f"is inside {parent}, which is a file"
    return None


def _name(field_name: str) -> str:
    """How a person set a field: its environment variable (or the field's name for the path settings)."""
    return _VARIABLES.get(field_name, field_name)


_URL_RULE = "must be an http(s) base URL without user or password (it is written into mails)"


def _problems(settings: Settings) -> list[str]:
    """Every rule a settings object breaks, one plain line each (the first is raised)."""
    problems: list[str] = []

    def check(ok: bool, name: str, rule: str) -> None:
        if not ok:
            problems.append(f"{_name(name)}={_shown(getattr(settings, name))}: {rule}")

    # inf passes every "above" rule (a drift limit of inf turns the monitor off), nan every comparison
    for item in fields(settings):
        value = getattr(settings, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            check(False, item.name, "must be a finite number")
    if problems:
        return problems

    check(0 < settings.validation_share < 1, "validation_share", "must be between 0 and 1 (exclusive)")
    for name in ("target_auc", "target_precision", "target_recall"):  # a figure must be able to exceed it
        check(0 <= getattr(settings, name) < 1, name, "must be at least 0 and below 1")
    for name in ("recall_margin", "shrink_limit", "warm_cutoff", "hot_cutoff"):
        check(0 <= getattr(settings, name) <= 1, name, "must be between 0 and 1")
    check(
        settings.warm_cutoff <= settings.hot_cutoff,
        "warm_cutoff",
        f"must not be above {_name('hot_cutoff')}={settings.hot_cutoff} (a warm lead scores below a hot one)",
    )
    check(settings.drift_limit > 0, "drift_limit", "must be above 0 (a PSI limit)")
    check(settings.drift_window_days >= 1, "drift_window_days", "must be at least 1 (the day itself)")
    check(1 <= settings.alarm_quiet_days <= 366, "alarm_quiet_days", "must be a number of days from 1 to 366")
    check(settings.promotion_tolerance >= 0, "promotion_tolerance", "must not be negative (an AUC tolerance)")
    for name in ("min_level_count", "min_training_leads", "min_conversions"):
        check(getattr(settings, name) >= 1, name, "must be at least 1")
    check(settings.max_staging_age_days >= 0, "max_staging_age_days", "must not be negative (0: no limit)")
    check(settings.backtest_months >= 3, "backtest_months", "at least 3 months")
    check(settings.backtest_max_leads >= 0, "backtest_max_leads", "not a count of leads")
    check(settings.policy_pool >= 0, "policy_pool", "not a count of leads")
    check(settings.min_labelled_leads >= 1, "min_labelled_leads", "a week needs at least 1 labelled lead")
    check(settings.outcome_clock_skew_minutes >= 0, "outcome_clock_skew_minutes", "must not be negative")
    check(settings.inference_max_active_runs >= 1, "inference_max_active_runs", "must be at least 1")
    check(settings.base_rate_days >= 0, "base_rate_days", "must not be negative (0: a fixed policy)")
    check(0 <= settings.share_margin < 1, "share_margin", "must be at least 0 and below 1")
    check(0 < settings.base_rate_tolerance < 1, "base_rate_tolerance", "must be above 0 and below 1")
    check(1 <= settings.warm_pool_days <= 3650, "warm_pool_days", "must be between 1 and 3650 (days)")
    check(settings.shadow_min_leads >= 1, "shadow_min_leads", "a comparison needs at least 1 labelled lead")
    check(settings.shadow_action in ("promote", "report"), "shadow_action", "must be 'promote' or 'report'")
    check(settings.recipe_search in ("backtest", "plain"), "recipe_search", "must be 'backtest' or 'plain'")
    check(0 < settings.encoding_prior <= 100_000, "encoding_prior", "must be above 0 and at most 100000 (leads)")
    check(1 <= settings.recency_half_life_days <= 3650, "recency_half_life_days", "must be between 1 and 3650 (days)")
    for name in ("experiment_name", "model_name"):
        text = getattr(settings, name)
        check(0 < len(text) <= MAX_TEXT_CHARS and text.isprintable(), name, f"must be 1 to {MAX_TEXT_CHARS} characters")
    for item in fields(settings):  # a count of leads or days beyond any real one overflows later, far from here
        value = getattr(settings, item.name)
        if isinstance(value, int) and not isinstance(value, bool):
            ceiling = MAX_DAYS if item.name.endswith("_days") or item.name == "backtest_months" else MAX_COUNT
            ceiling = MAX_DAYS * 1440 if item.name.endswith("_minutes") else ceiling
            check(value <= ceiling, item.name, f"must be at most {ceiling:,}")
    for name in _PATH_VARIABLES:
        problem = _path_problem(getattr(settings, name), name)
        if problem:
            check(False, name, problem)
    for name in ("airflow_url", "mlflow_url"):  # a link in a mail: a plain web address, no credential
        url = getattr(settings, name)
        check(not url or (re.match(r"https?://[^\s@/]+(/\S*)?$", url) is not None), name, _URL_RULE)
    check(
        all(re.fullmatch(r"[^@\s,]+@[^@\s,]+", a.strip()) for a in settings.alert_emails.split(",") if a.strip()),
        "alert_emails",
        "must be comma-separated mail addresses (name@host)",
    )
    check(
        settings.inference_max_active_runs == 1 or not settings.db_url.startswith("sqlite"),
        "inference_max_active_runs",
        "must be 1 on a SQLite staging database (one writer at a time); run days concurrently on PostgreSQL",
    )
    return problems
