"""One settings object, read from the environment when asked for, never at import."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import quote, unquote, urlsplit

from lead_scoring.errors import ConfigurationError


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
    "LEAD_SCORING_ALERT_EMAILS": "alert_emails",
    "LEAD_SCORING_AIRFLOW_URL": "airflow_url",
    "LEAD_SCORING_MLFLOW_URL": "mlflow_url",
}
_VARIABLES = {name: var for var, name in _ENV_FIELDS.items()}


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
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|credential", re.IGNORECASE)
_MASK = "***"
# in free text (errors, tracebacks, log lines): a URL's `user:password@` and a secret query value
_TEXT_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@]*:)[^\s]*@")
_BARE_USERINFO = re.compile(r"^(?P<head>(?:[a-zA-Z][a-zA-Z0-9+.-]*:/*)?[^:/@\s]+:)[^@\s/]*@")
_TEXT_QUERY = re.compile(r"(?P<head>[?&;][^=&\s]*(?:pass|pwd|secret|token|key|credential)[^=&\s]*=)[^&\s#'\"]*", re.I)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info and every secret query value masked (``***``).

    Plain URL parsing (no SQLAlchemy: the pure core may import this module), so it also reads
    URLs SQLAlchemy cannot: ``http://user:pw@mlflow:5000``, ``postgresql://h/db?password=pw``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    redacted = url
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        redacted = redacted.replace(parts.netloc, f"{userinfo.split(':', 1)[0]}:{_MASK}@{host}", 1)
    elif not parts.netloc and "@" in url:  # malformed (`user:pw@host/db`, `scheme:/user:pw@host`): mask anyway
        redacted = _BARE_USERINFO.sub(lambda m: m.group("head") + _MASK + "@", redacted, count=1)
    if parts.query:  # rebuilt in place: urlunsplit would turn sqlite:////abs/path into sqlite://abs/path
        head, _, tail = redacted.partition("?")
        query, hash_, fragment = tail.partition("#")
        query = "&".join(_redact_pair(pair) for pair in query.split("&"))
        redacted = f"{head}?{query}{hash_}{fragment}"
    return redacted


def _redact_pair(pair: str) -> str:
    key, equals, _value = pair.partition("=")
    return f"{key}={_MASK}" if equals and _SECRET_KEY.search(unquote(key)) else pair


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """Free text with every URL credential and each of ``secrets`` (as written or percent-encoded) masked.

    ``secrets`` defaults to the credentials of the process's environment (:func:`secrets_in`).
    """
    secrets = secrets_in(os.environ) if secrets is None else secrets
    forms = {form for secret in secrets if len(secret) >= 4 for form in (secret, quote(secret, safe=""))}
    for form in sorted(forms, key=len, reverse=True):  # the longest first: a secret may contain another
        text = text.replace(form, _MASK)
    text = _TEXT_USERINFO.sub(lambda m: m.group("head") + _MASK + "@", text)
    return _TEXT_QUERY.sub(lambda m: m.group("head") + _MASK, text)


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The credentials an environment holds for this project: its URLs' passwords and MLflow's password/token."""
    found = [env.get(name, "") for name in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")]
    for name in ("LEAD_SCORING_DB_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        try:
            parts = urlsplit(env.get(name, ""))
        except ValueError:
            continue
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.append(unquote(userinfo.split(":", 1)[1]))
        found += [
            unquote(value)
            for key, _, value in (p.partition("=") for p in parts.query.split("&"))
            if _SECRET_KEY.search(key)
        ]
    return [secret for secret in found if secret]


def _parse(var: str, raw: str, kind: type) -> int | float | str:
    """One environment value as its field's type (the real type hint, not its text)."""
    if kind not in (int, float, str):
        raise TypeError(f"the settings field of {var} is a {kind!r}: only int, float and str are read from text")
    try:
        value: int | float | str = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
    if isinstance(value, float) and not math.isfinite(value):  # float() reads "inf" and "nan"
        raise ConfigurationError(f"{var}={raw!r} is not a finite number")
    return value


def _name(field_name: str) -> str:
    """How a person set a field: its environment variable (or the field's name for the path settings)."""
    return _VARIABLES.get(field_name, field_name)


_URL_RULE = "must be an http(s) base URL without user or password (it is written into mails)"


def _problems(settings: Settings) -> list[str]:
    """Every rule a settings object breaks, one plain line each (the first is raised)."""
    problems: list[str] = []

    def check(ok: bool, name: str, rule: str) -> None:
        if not ok:
            problems.append(f"{_name(name)}={getattr(settings, name)}: {rule}")

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
    check(settings.shadow_min_leads >= 1, "shadow_min_leads", "a comparison needs at least 1 labelled lead")
    check(settings.shadow_action in ("promote", "report"), "shadow_action", "must be 'promote' or 'report'")
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
