"""Settings: defaults under LEAD_SCORING_HOME, environment overrides, flag overrides, no import side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lead_scoring.errors import ConfigurationError
from lead_scoring.settings import Settings


def test_defaults_live_under_home(tmp_path: Path):
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)})
    assert settings.db_url == f"sqlite:///{tmp_path / 'lead_scoring.db'}"
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.artifact_root == tmp_path / "mlruns"
    assert settings.city_tier_path.name == "city_tiers.json" and settings.city_tier_path.is_file()


def test_environment_overrides(tmp_path: Path):
    env = {
        "LEAD_SCORING_HOME": str(tmp_path),
        "LEAD_SCORING_DB_URL": "postgresql+psycopg2://u:secret@db/staging",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "LEAD_SCORING_TARGET_RECALL": "0.8",
        "LEAD_SCORING_CITY_TIERS": str(tmp_path / "tiers.json"),
    }
    settings = Settings.from_env(env)
    assert settings.db_url.endswith("@db/staging")
    assert settings.tracking_uri == "http://mlflow:5000"
    assert settings.target_recall == 0.8
    assert settings.city_tier_path == tmp_path / "tiers.json"
    assert "secret" not in settings.redacted_db_url()


def test_feedback_settings_default_under_home_and_read_the_environment(tmp_path: Path):
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)})
    assert settings.outcomes_dir == tmp_path / "landing" / "outcomes"
    assert settings.min_labelled_leads == 200
    env = {
        "LEAD_SCORING_HOME": str(tmp_path),
        "LEAD_SCORING_OUTCOMES_DIR": "/crm",
        "LEAD_SCORING_MIN_LABELLED_LEADS": "50",
    }
    settings = Settings.from_env(env)
    assert settings.outcomes_dir == Path("/crm") and settings.min_labelled_leads == 50
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_MIN_LABELLED_LEADS=0"):
        Settings.from_env({**env, "LEAD_SCORING_MIN_LABELLED_LEADS": "0"})


def test_flags_override_the_environment_and_none_means_unset(tmp_path: Path):
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)})
    assert settings.with_overrides(db_url="sqlite:///x.db").db_url == "sqlite:///x.db"
    assert settings.with_overrides(db_url=None).db_url == settings.db_url


def test_malformed_values_are_configuration_errors(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_TARGET_AUC='high'"):
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), "LEAD_SCORING_TARGET_AUC": "high"})
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)}).with_overrides(colour="red")


def test_broken_mapping_file_is_a_clear_cli_error(home, cli, tmp_path, monkeypatch):
    broken = tmp_path / "tiers.json"
    broken.write_text("{not json")
    monkeypatch.setenv("LEAD_SCORING_CITY_TIERS", str(broken))
    status, _, err = cli("prepare", "--input", tmp_path / "whatever.csv")
    assert status == 2
    assert err.startswith(f"error: {broken}: not valid JSON")


def test_importing_the_package_has_no_side_effects(tmp_path: Path):
    """DAG files import lead_scoring at every parse: no dirs made, no tracking URI, no logging set."""
    probe = (
        "import logging, os, sys\n"
        "os.chdir(sys.argv[1])\n"
        "import lead_scoring, lead_scoring.settings, lead_scoring.schema, lead_scoring.errors, lead_scoring.cli\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
        "assert logging.getLogger('lead_scoring').handlers == []\n"
        "assert 'mlflow' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", probe, str(tmp_path)], check=True, env={"PATH": "/usr/bin:/bin"})


def test_backtest_months_and_policy_pool_are_checked_when_built():
    from lead_scoring.errors import ConfigurationError
    from lead_scoring.settings import Settings

    assert Settings.from_env({"LEAD_SCORING_BACKTEST_MONTHS": "4"}).backtest_months == 4
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_BACKTEST_MONTHS=2: must be at least 3"):
        Settings.from_env({"LEAD_SCORING_BACKTEST_MONTHS": "2"})
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_POLICY_POOL=-1"):
        Settings.from_env({"LEAD_SCORING_POLICY_POOL": "-1"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LEAD_SCORING_VALIDATION_SHARE",
            "1",
            "LEAD_SCORING_VALIDATION_SHARE=1.0: must be between 0 and 1 (exclusive)",
        ),
        ("LEAD_SCORING_VALIDATION_SHARE", "0", "LEAD_SCORING_VALIDATION_SHARE=0.0: must be between 0 and 1"),
        ("LEAD_SCORING_TARGET_AUC", "1.2", "LEAD_SCORING_TARGET_AUC=1.2: must be at least 0 and below 1"),
        ("LEAD_SCORING_TARGET_PRECISION", "1", "LEAD_SCORING_TARGET_PRECISION=1.0: must be at least 0 and below 1"),
        ("LEAD_SCORING_TARGET_RECALL", "-0.1", "LEAD_SCORING_TARGET_RECALL=-0.1: must be at least 0 and below 1"),
        ("LEAD_SCORING_RECALL_MARGIN", "1.5", "LEAD_SCORING_RECALL_MARGIN=1.5: must be between 0 and 1"),
        ("LEAD_SCORING_RECIPE_SEARCH", "best", "LEAD_SCORING_RECIPE_SEARCH='best': must be 'backtest' or 'plain'"),
        (
            "LEAD_SCORING_ENCODING_PRIOR",
            "0",
            "LEAD_SCORING_ENCODING_PRIOR=0.0: must be above 0 and at most 100000",
        ),
        (
            "LEAD_SCORING_RECENCY_HALF_LIFE_DAYS",
            "0.5",
            "LEAD_SCORING_RECENCY_HALF_LIFE_DAYS=0.5: must be between 1 and 3650",
        ),
        ("LEAD_SCORING_SHRINK_LIMIT", "2", "LEAD_SCORING_SHRINK_LIMIT=2.0: must be between 0 and 1"),
        ("LEAD_SCORING_HOT_CUTOFF", "1.1", "LEAD_SCORING_HOT_CUTOFF=1.1: must be between 0 and 1"),
        (
            "LEAD_SCORING_WARM_CUTOFF",
            "0.8",
            "LEAD_SCORING_WARM_CUTOFF=0.8: must not be above LEAD_SCORING_HOT_CUTOFF=0.7",
        ),
        ("LEAD_SCORING_DRIFT_LIMIT", "0", "LEAD_SCORING_DRIFT_LIMIT=0.0: must be above 0"),
        ("LEAD_SCORING_PROMOTION_TOLERANCE", "-0.01", "LEAD_SCORING_PROMOTION_TOLERANCE=-0.01: must not be negative"),
        ("LEAD_SCORING_MIN_LEVEL_COUNT", "0", "LEAD_SCORING_MIN_LEVEL_COUNT=0: must be at least 1"),
        ("LEAD_SCORING_MIN_TRAINING_LEADS", "0", "LEAD_SCORING_MIN_TRAINING_LEADS=0: must be at least 1"),
        ("LEAD_SCORING_MIN_CONVERSIONS", "-5", "LEAD_SCORING_MIN_CONVERSIONS=-5: must be at least 1"),
        ("LEAD_SCORING_MAX_STAGING_AGE_DAYS", "-1", "LEAD_SCORING_MAX_STAGING_AGE_DAYS=-1: must not be negative"),
        ("LEAD_SCORING_BACKTEST_MAX_LEADS", "-1", "LEAD_SCORING_BACKTEST_MAX_LEADS=-1: must not be negative"),
        (
            "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS",
            "0",
            "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS=0: must be at least 1",
        ),
        (
            "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS",
            "4",
            "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS=4: must be 1 on a SQLite staging database",
        ),
    ],
)
def test_each_range_is_checked_when_built_with_one_plain_line(tmp_path: Path, variable, value, message):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), variable: value})
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_a_flag_that_breaks_a_range_is_refused_too(tmp_path: Path):
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_WARM_CUTOFF=0.9: must not be above"):
        settings.with_overrides(warm_cutoff=0.9)
    assert settings.with_overrides(warm_cutoff=0.7, hot_cutoff=0.7).warm_cutoff == 0.7  # equal is allowed


def test_values_are_read_as_their_fields_types(tmp_path: Path):
    """The real type hints decide, not their text: a float field given "1" is the float 1.0, an int
    field refuses "1.5"."""
    settings = Settings.from_env(
        {"LEAD_SCORING_HOME": str(tmp_path), "LEAD_SCORING_DRIFT_LIMIT": "1", "LEAD_SCORING_POLICY_POOL": "10"}
    )
    assert type(settings.drift_limit) is float and settings.drift_limit == 1.0
    assert type(settings.policy_pool) is int and settings.policy_pool == 10
    with pytest.raises(ConfigurationError, match=r"LEAD_SCORING_MIN_TRAINING_LEADS='1.5' is not a valid int"):
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), "LEAD_SCORING_MIN_TRAINING_LEADS": "1.5"})


def test_days_run_concurrently_only_off_sqlite(tmp_path: Path):
    home = {"LEAD_SCORING_HOME": str(tmp_path)}
    assert Settings.from_env(home).inference_max_active_runs == 1
    postgres = {**home, "LEAD_SCORING_DB_URL": "postgresql+psycopg2://lead:x@127.0.0.1/staging"}
    assert Settings.from_env({**postgres, "LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS": "4"}).inference_max_active_runs == 4


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEAD_SCORING_DRIFT_LIMIT", "inf"),  # turned the drift monitor off
        ("LEAD_SCORING_DRIFT_LIMIT", "nan"),
        ("LEAD_SCORING_PROMOTION_TOLERANCE", "Infinity"),
        ("LEAD_SCORING_TARGET_AUC", "NaN"),
        ("LEAD_SCORING_SHRINK_LIMIT", "-inf"),
    ],
)
def test_infinite_or_missing_numbers_are_refused(tmp_path: Path, variable, value):
    """Issue #23.8: a float setting reads "inf" and "nan" as numbers; no setting means either."""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path), variable: value})
    assert str(caught.value) == f"{variable}={value!r} is not a finite number"


def test_an_infinite_flag_value_is_refused_too(tmp_path: Path):
    settings = Settings.from_env({"LEAD_SCORING_HOME": str(tmp_path)})
    with pytest.raises(ConfigurationError) as caught:
        settings.with_overrides(drift_limit=float("inf"))
    assert str(caught.value) == "LEAD_SCORING_DRIFT_LIMIT=inf: must be a finite number"


def test_text_printed_to_the_terminal_has_its_control_characters_escaped():
    from lead_scoring.console import printable

    assert printable("L1\x1b]0;owned\x07\x1b[2J\r\u202eok") == "L1\\x1b]0;owned\\x07\\x1b[2J\\r\\u202eok"
    assert printable("Lévy 42") == "Lévy 42"


def test_the_mail_settings_are_read_and_a_link_with_a_password_is_refused(tmp_path: Path):
    env = {"LEAD_SCORING_HOME": str(tmp_path)}
    assert Settings.from_env(env).alert_emails == ""  # no mail by default
    given = Settings.from_env(
        env
        | {
            "LEAD_SCORING_ALERT_EMAILS": "ops@example.test, sales@example.test",
            "LEAD_SCORING_AIRFLOW_URL": "https://airflow.example.test/",
            "LEAD_SCORING_MLFLOW_URL": "http://mlflow:5000",
        }
    )
    assert (given.alert_emails, given.airflow_url, given.mlflow_url) == (
        "ops@example.test, sales@example.test",
        "https://airflow.example.test/",
        "http://mlflow:5000",
    )
    with pytest.raises(
        ConfigurationError, match="LEAD_SCORING_MLFLOW_URL='http://admin:pw@mlflow:5000': must be an http"
    ):
        Settings.from_env(env | {"LEAD_SCORING_MLFLOW_URL": "http://admin:pw@mlflow:5000"})
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_AIRFLOW_URL='airflow:8080'"):
        Settings.from_env(env | {"LEAD_SCORING_AIRFLOW_URL": "airflow:8080"})
    with pytest.raises(ConfigurationError, match="LEAD_SCORING_ALERT_EMAILS='ops; sales': must be comma-separated"):
        Settings.from_env(env | {"LEAD_SCORING_ALERT_EMAILS": "ops; sales"})


def test_the_knob_groups_are_built_once_from_the_settings(tmp_path: Path):
    """#32: the core receives one frozen group per concern, built once per settings object."""
    from lead_scoring.core.knobs import BacktestKnobs, MonitoringKnobs
    from lead_scoring.core.targets import Targets

    env = {
        "LEAD_SCORING_HOME": str(tmp_path),
        "LEAD_SCORING_TARGET_RECALL": "0.8",
        "LEAD_SCORING_RECALL_MARGIN": "0.05",
        "LEAD_SCORING_BACKTEST_MONTHS": "4",
        "LEAD_SCORING_MIN_TRAINING_LEADS": "700",
        "LEAD_SCORING_DRIFT_WINDOW_DAYS": "5",
        "LEAD_SCORING_RECIPE_SEARCH": "plain",
    }
    settings = Settings.from_env(env)
    assert settings.targets == Targets(auc=0.75, precision=0.65, recall=0.8)
    assert settings.training.backtest == BacktestKnobs(
        months=4, validation_share=0.2, min_leads=700, min_conversions=100, max_leads=200_000
    )
    assert settings.training.min_recall == pytest.approx(0.85)
    assert len(settings.training.search.candidates) == 1  # plain: no search
    assert settings.monitoring == MonitoringKnobs(drift_limit=0.25, drift_window_days=5, alarm_quiet_days=3)
    assert settings.training is settings.training and settings.feedback.targets is settings.targets
    assert settings.with_overrides(target_recall=0.7).training.targets.recall == 0.7  # a copy builds its own


def test_only_the_documented_upper_case_names_are_read(tmp_path: Path):
    home = {"LEAD_SCORING_HOME": str(tmp_path)}
    assert Settings.from_env({**home, "lead_scoring_drift_limit": "0.9"}).drift_limit == 0.25
    assert Settings.from_env({**home, "LEAD_SCORING_DRIFT_LIMIT": "0.9"}).drift_limit == 0.9
    assert Settings.from_env({**home, "LEAD_SCORING_DRIFT_LIMIT": ""}).drift_limit == 0.25  # empty is unset
