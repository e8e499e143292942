"""The declaration of every setting: name, type, bounds, default and meaning, once (pydantic-settings).

Each field is read from ``LEAD_SCORING_<FIELD NAME>`` unless its ``validation_alias`` names the
variable (``LEAD_SCORING_EXPERIMENT``, ``MLFLOW_TRACKING_URI``, ...); an empty value is unset.
docs/configuration.md is generated from this class (``make docs``); the rules that join two settings
or look at the file system are in :mod:`lead_scoring.settings.rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_PATH_CHARS = 4096  # Linux's PATH_MAX; a longer path fails in every call that opens it
MAX_NAME_CHARS = 255  # one file or folder name (NAME_MAX)
MAX_TEXT_CHARS = 250  # a name MLflow stores (experiment, registered model, the user of a move)
MAX_COUNT = 10**9  # leads, levels, runs: beyond any export this system takes
MAX_DAYS = 36_600  # a century of days: more overflows pandas' time range
MAX_MINUTES = MAX_DAYS * 1440
CEILINGS = (MAX_COUNT, MAX_DAYS, MAX_MINUTES)  # sanity ceilings, not a rule a person tunes to


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _home(data: dict[str, Any]) -> Path:
    return Path(data.get("home") or project_root())


def _data_dir(data: dict[str, Any]) -> Path:
    return Path(data.get("data_dir") or project_root() / "data")


def _derived(shown: str, **kwargs: Any) -> Any:
    """A field whose default follows another setting; ``shown``: that default as the docs write it."""
    return Field(json_schema_extra={"shown_default": shown}, **kwargs)


class Declaration(BaseSettings):
    """Where things live and the knobs of training, scoring, monitoring and feedback."""

    model_config = SettingsConfigDict(
        env_prefix="LEAD_SCORING_",
        env_ignore_empty=True,  # VAR= is unset, as compose writes an optional variable
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,  # float("inf") reads "inf": a drift limit of inf turns the monitor off
        validate_default=True,
    )

    # where things live
    home: Path = _derived(
        "the checkout (editable install), else the working directory",
        default_factory=project_root,
        description="where the databases, `mlruns/`, `airflow/` and `demo/` live",
    )
    db_url: str = _derived(
        "`sqlite:///$LEAD_SCORING_HOME/lead_scoring.db`",
        default_factory=lambda data: _sqlite_url(_home(data) / "lead_scoring.db"),
        description=(
            "staging database (any SQLAlchemy URL). On SQLite a writer takes the write lock when it begins "
            "(`BEGIN IMMEDIATE`) and waits up to 60 s (`?timeout=S` in the URL) for another run's; longer: "
            'exit 2, "locked by another run", nothing written'
        ),
    )
    tracking_uri: str = _derived(
        "`sqlite:///$LEAD_SCORING_HOME/mlflow.db`",
        default_factory=lambda data: _sqlite_url(_home(data) / "mlflow.db"),
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking + registry (MLflow's own variable)",
    )
    artifact_root: Path = _derived(
        "`$LEAD_SCORING_HOME/mlruns`",
        default_factory=lambda data: _home(data) / "mlruns",
        description="MLflow artifacts",
    )
    data_dir: Path = _derived(
        "`data/` of the checkout",
        default_factory=lambda: project_root() / "data",
        description="where the mapping files are",
    )
    city_tier_path: Path = _derived(
        "`$LEAD_SCORING_DATA_DIR/city_tiers.json`",
        default_factory=lambda data: _data_dir(data) / "city_tiers.json",
        validation_alias="LEAD_SCORING_CITY_TIERS",
        description="the city tier mapping file",
    )
    significant_levels_path: Path = _derived(
        "`$LEAD_SCORING_DATA_DIR/significant_levels.json`",
        default_factory=lambda data: _data_dir(data) / "significant_levels.json",
        validation_alias="LEAD_SCORING_SIGNIFICANT_LEVELS",
        description="the significant levels mapping file (rarer levels are grouped)",
    )
    interaction_groups_path: Path = _derived(
        "`$LEAD_SCORING_DATA_DIR/interaction_groups.json`",
        default_factory=lambda data: _data_dir(data) / "interaction_groups.json",
        validation_alias="LEAD_SCORING_INTERACTION_GROUPS",
        description="the interaction groups mapping file",
    )
    landing_dir: Path = _derived(
        "`$LEAD_SCORING_HOME/landing`",
        default_factory=lambda data: _home(data) / "landing",
        description="where the daily lead files land",
    )
    outcomes_dir: Path = _derived(
        "`$LEAD_SCORING_HOME/landing/outcomes`",
        default_factory=lambda data: _home(data) / "landing" / "outcomes",
        description="where the daily CRM outcome files (`outcomes_YYYY-MM-DD.csv`) land",
    )
    # names in MLflow
    experiment_name: str = Field(
        "lead_scoring",
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        validation_alias="LEAD_SCORING_EXPERIMENT",
        description="the MLflow experiment of the training runs",
    )
    model_name: str = Field(
        "lead_scoring", min_length=1, max_length=MAX_TEXT_CHARS, description="the registered model's name in MLflow"
    )
    # training
    validation_share: float = Field(0.2, gt=0, lt=1, description="newest share of leads held out")
    target_auc: float = Field(
        0.75, ge=0, lt=1, description="the promotion target of AUC (a figure meets a target only above it)"
    )
    target_precision: float = Field(
        0.65, ge=0, lt=1, description="the promotion target of precision, and the decision policy's"
    )
    target_recall: float = Field(
        0.75, ge=0, lt=1, description="the promotion target of recall, and the decision policy's"
    )
    recall_margin: float = Field(
        0.08,
        ge=0,
        le=1,
        description="the validation rule's margin: its cut keeps recall >= target + margin on the validation leads",
    )
    min_level_count: int = Field(
        30, ge=1, le=MAX_COUNT, description="rarer categorical levels are grouped as `other` by the features"
    )
    promotion_tolerance: float = Field(
        0.005, ge=0, description="AUC a challenger may lose to the champion and still be promoted"
    )
    min_training_leads: int = Field(
        1000, ge=1, le=MAX_COUNT, description="data sufficiency: leads training needs (and a backtest month's history)"
    )
    min_conversions: int = Field(
        100,
        ge=1,
        le=MAX_COUNT,
        description="data sufficiency: conversions (and non-conversions) training and a backtest month need",
    )
    backtest_months: int = Field(
        3, ge=3, le=MAX_DAYS, description="months backtested at training; the decision policy is chosen on them"
    )
    backtest_max_leads: int = Field(
        200_000,
        ge=0,
        le=MAX_COUNT,
        description="a backtest fold fits on at most the newest this many leads before its month (0: all)",
    )
    base_rate_days: int = Field(
        28,
        ge=0,
        le=MAX_DAYS,
        description=(
            "the labelled leads of this many days before a day refresh the daily share's calibration (and the"
            " training run reweights its backtest months to their base rate); 0: the trained share every day"
        ),
    )
    recipe_search: Literal["backtest", "plain"] = Field(
        "backtest",
        description=(
            "`backtest`: `train` backtests a handful of recipes (encodings, recency weights, raw city or not)"
            " and keeps the best mean AUC over the backtest months, never worse than the plain recipe by more"
            " than `LEAD_SCORING_PROMOTION_TOLERANCE` in a month "
            "([model.md](model.md#the-recipe-chosen-on-the-backtest-months)); `plain`: no encodings, equal "
            "weights (the recipe before #33)"
        ),
    )
    encoding_prior: float = Field(
        30.0,
        gt=0,
        le=100_000,
        description=(
            "the target encoding's prior strength, in leads: a level's conversion rate is shrunk toward the "
            "base rate as if this many more leads at the base rate had it"
        ),
    )
    recency_half_life_days: float = Field(
        45.0,
        ge=1,
        le=3650,
        description="the recency-weighted candidates weigh a training lead this many days older than the newest half",
    )
    # scoring and the decision policy
    hot_cutoff: float = Field(0.7, ge=0, le=1, description="buckets: a score at or above this is `hot`")
    warm_cutoff: float = Field(
        0.4,
        ge=0,
        le=1,
        description=(
            "buckets: a score at or above this (and below the hot cut-off) is `warm`; not above "
            "`LEAD_SCORING_HOT_CUTOFF`"
        ),
    )
    policy_pool: int = Field(
        2000,
        ge=0,
        le=MAX_COUNT,
        description=(
            "a batch is ranked among this many of the latest production leads before its day, each scored by "
            "the scoring version (its warm pool, below)"
        ),
    )
    share_margin: float = Field(
        0.02,
        ge=0,
        lt=1,
        description=(
            "the room to both targets the daily share's expected precision and recall must have for the day "
            "to say the targets are met with the margin (about twice the sampling error of a month's "
            "precision); the share itself is the one with the most room "
            "([model.md](model.md#the-daily-share-flags-that-follow-the-base-rate))"
        ),
    )
    warm_pool_days: int = Field(
        28,
        ge=1,
        le=3650,
        description=(
            "the rank pool's leads are the production leads of at most this many days before the day, created"
            " after the version's training leads (a new champion's pool is warm from its first day)"
        ),
    )
    base_rate_tolerance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description=(
            "the daily share follows the EM estimate of the base rate within this of the labelled leads' "
            "rate; farther, the labelled rate, and a `base rate` alarm"
        ),
    )
    max_staging_age_days: int = Field(
        0,
        ge=0,
        le=MAX_DAYS,
        description=(
            "training refuses a `model_input` whose newest lead is older than this many days (0: no freshness limit)"
        ),
    )
    shrink_limit: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "`prepare` (and the data DAG) refuse an export with fewer leads than this share of the published "
            "`model_input`'s, unless `--allow-shrink` (DAG param `allow_shrink`); 0: no limit"
        ),
    )
    inference_max_active_runs: int = Field(
        1,
        ge=1,
        le=MAX_COUNT,
        description=(
            "days of the daily inference DAG that run at once (a backfill spread over the workers); must be 1"
            " on a SQLite staging database. On PostgreSQL each day's run writes only its own rows (its "
            "scratch tables are keyed by its interval, `predictions` and `scored_leads` by lead, "
            "`scoring_runs` by the interval); a rank policy's pool is then the version's latest scores "
            "whichever days finished first, not the days before"
        ),
    )
    # monitoring
    drift_limit: float = Field(0.25, gt=0, description="PSI past which a scoring run is `drifted`")
    drift_window_days: int = Field(
        7,
        ge=1,
        le=MAX_DAYS,
        description=(
            "a day's drift is measured on the production leads of this many days ending with it (a day of a "
            "hundred leads alone is too noisy for PSI; a week holds every weekday once)"
        ),
    )
    alarm_quiet_days: int = Field(
        3,
        ge=1,
        le=366,
        description=(
            "an open drift alarm closes on this many scored days in a row without drift; drifted, quiet, "
            "drifted is one alarm ([monitoring.md](monitoring.md#alarms))"
        ),
    )
    # feedback
    min_labelled_leads: int = Field(
        200, ge=1, le=MAX_COUNT, description="labelled leads a week needs before its realized figures are computed"
    )
    outcome_clock_skew_minutes: int = Field(
        10,
        ge=0,
        le=MAX_MINUTES,
        description=(
            "an outcome dated more than this after its file arrived is ignored and counted "
            "([input-rules.md](input-rules.md#outcome-files-feedback-the-feedback-dag))"
        ),
    )
    shadow_min_leads: int = Field(
        500,
        ge=1,
        le=MAX_COUNT,
        description=(
            "a shadow version compared with the champion on at least this many of the same labelled leads is "
            "promoted or reported (`LEAD_SCORING_SHADOW_ACTION`)"
        ),
    )
    shadow_action: Literal["promote", "report"] = Field(
        "report",
        description=(
            "what the feedback run does with a shadow version that beats the champion: `promote` it or only `report` it"
        ),
    )
    # the operators' mail (docs/alerts.md)
    alert_emails: str = Field(
        "",
        description=(
            "comma-separated recipients of the operators' mail: a task that fails for good, a drift alarm "
            "that opens or closes ([alerts.md](alerts.md)); empty: no mail, the DAGs run the same. Read where"
            " the DAGs are parsed and run (the dag-processor and the workers)"
        ),
    )
    airflow_url: str = Field(
        "",
        description=(
            "the Airflow UI as a person reaches it (`https://...`, no user or password): the mails' links to "
            "the task log; empty: no link"
        ),
    )
    mlflow_url: str = Field(
        "",
        description=(
            "the MLflow UI as a person reaches it (`https://...`, no user or password): the mails' links to "
            "the model; empty: no link"
        ),
    )

    @field_validator("home", "data_dir")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()
