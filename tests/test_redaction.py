"""No credential is printed: a tracking URI's `user:password@`, a staging URL's `?password=`, MLflow's
password, in links, messages, log lines and tracebacks at the CLI edge (issue #23, item 4)."""

from __future__ import annotations

import logging

import pytest

from lead_scoring.settings import Settings, redact_text, redact_url, secrets_in

SECRET = "s3cret-Pw"


def test_a_staging_url_password_in_the_query_is_masked(home):
    """libpq reads `?password=`: SQLAlchemy's hide_password masks only the user-info."""
    settings = Settings.from_env(
        {"LEAD_SCORING_HOME": str(home)}, db_url=f"postgresql://lead@db/staging?password={SECRET}&sslmode=require"
    )
    assert settings.redacted_db_url() == "postgresql://lead@db/staging?password=***&sslmode=require"


def test_urls_keep_everything_but_their_credentials():
    assert (
        redact_url(f"postgresql+psycopg2://lead:{SECRET}@db:5432/staging")
        == "postgresql+psycopg2://lead:***@db:5432/staging"
    )
    assert redact_url(f"http://admin:{SECRET}@mlflow:5000") == "http://admin:***@mlflow:5000"
    # an `@` in a password the URL did not encode still ends at the host's `@`
    assert redact_url("postgresql://lead:p@ss@db/staging") == "postgresql://lead:***@db/staging"
    assert (
        redact_url(f"postgresql://db/staging?user=lead&PassWord={SECRET}#x")
        == "postgresql://db/staging?user=lead&PassWord=***#x"
    )
    assert redact_url("sqlite:////srv/home/lead_scoring.db") == "sqlite:////srv/home/lead_scoring.db"
    assert redact_url("http://mlflow:5000") == "http://mlflow:5000"


def test_the_staging_database_masks_a_query_password():
    from lead_scoring.adapters.staging import StagingDatabase

    db = StagingDatabase(f"postgresql+psycopg2://lead@db/staging?password={SECRET}")
    assert db.redacted_url == "postgresql+psycopg2://lead@db/staging?password=***"


def test_a_malformed_url_still_loses_its_password():
    assert redact_url(f"lead:{SECRET}@db/staging") == "lead:***@db/staging"  # no scheme
    assert redact_url(f"postgresql:/lead:{SECRET}@db/staging") == "postgresql:/lead:***@db/staging"  # one slash
    assert redact_url("sqlite:////srv/a:b@c.db") == "sqlite:////srv/a:b@c.db"  # a path, not a login


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"lead:{SECRET}@db/staging", "not a database URL: 'lead:***@db/staging'"),
        (
            f"postgresql+nosuchdriver://lead@db/staging?password={SECRET}",
            "nosuchdriver://lead@db/staging?password=***: ",
        ),
    ],
)
def test_the_staging_databases_own_errors_show_no_password(url, message):
    from lead_scoring.adapters.staging import StagingDatabase
    from lead_scoring.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as refused:
        StagingDatabase(url).engine  # noqa: B018 - the engine is built on first use
    assert message in str(refused.value) and SECRET not in str(refused.value)


def test_the_mlflow_link_never_carries_the_login():
    """train's link and `make mlflow`'s line are opened, pasted and logged: the browser asks for the login."""
    from lead_scoring.adapters.mlflow.store import runs_url, ui_base

    assert ui_base(f"http://admin:{SECRET}@mlflow:5000/") == "http://mlflow:5000"
    assert (
        ui_base(f"https://admin:{SECRET}@mlflow.example.com/mlflow?token={SECRET}")
        == "https://mlflow.example.com/mlflow"
    )
    assert runs_url(ui_base(f"http://admin:{SECRET}@mlflow:5000"), "3") == (
        "http://mlflow:5000/#/experiments/3/runs?workflowType=machine_learning"
    )


def test_free_text_loses_urls_credentials_and_the_environments_secrets():
    env = {
        "MLFLOW_TRACKING_URI": "http://admin:p%40ss-word@mlflow:5000",
        "LEAD_SCORING_DB_URL": f"postgresql://db/staging?password={SECRET}",
        "MLFLOW_TRACKING_PASSWORD": "tracking-pw-1",
    }
    assert sorted(secrets_in(env)) == sorted(["p@ss-word", SECRET, "tracking-pw-1"])
    text = (
        "API request to http://admin:p%40ss-word@mlflow:5000/api/2.0/mlflow/runs failed; "
        f"password authentication failed ({SECRET}); basic auth with tracking-pw-1 refused"
    )
    assert redact_text(text, secrets_in(env)) == (
        "API request to http://admin:***@mlflow:5000/api/2.0/mlflow/runs failed; "
        "password authentication failed (***); basic auth with *** refused"
    )
    assert redact_text(f"see postgresql://db/staging?password={SECRET}&x=1 now", []) == (
        "see postgresql://db/staging?password=***&x=1 now"
    )


def test_a_traceback_at_the_cli_edge_shows_no_password(home, monkeypatch, cli):
    """An error no rule maps to a user error still ends in a traceback: MLflow quotes the URI in it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"foo://admin:{SECRET}@mlflow:5000")
    status, out, err = cli("promote", "1", "--reason", "checking the redaction")
    assert status != 0
    assert "foo://admin:***@mlflow:5000" in err  # the error is still there to read
    assert SECRET not in err and SECRET not in out


def test_a_user_error_line_shows_no_password(home, monkeypatch, cli):
    monkeypatch.setenv("LEAD_SCORING_DB_URL", f"sqlite:///{home}/staging.db?password={SECRET}")
    status, _, err = cli("train")
    assert status == 2 and err.startswith("error: ")
    assert "password=***" in err and SECRET not in err


def test_log_lines_show_no_password(monkeypatch, capsys):
    from lead_scoring import cli

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    cli._configure_logging(logging.INFO)
    try:
        log = logging.getLogger("lead_scoring.test")
        log.info("tracking store http://admin:%s@mlflow:5000", "other-pw")
        log.info("logged in with %s", SECRET)
        try:
            raise RuntimeError(f"postgresql://lead:{SECRET}@db/staging is down")
        except RuntimeError:
            log.exception("the store failed")
    finally:
        logging.getLogger("lead_scoring").handlers.clear()
    err = capsys.readouterr().err
    assert "INFO lead_scoring.test: tracking store http://admin:***@mlflow:5000" in err
    assert "INFO lead_scoring.test: logged in with ***" in err
    assert "RuntimeError: postgresql://lead:***@db/staging is down" in err
    assert SECRET not in err and "other-pw" not in err


@pytest.mark.parametrize("url", ["not a url", "http://[broken", ""])
def test_redaction_never_fails_on_what_it_cannot_parse(url):
    assert redact_url(url) == url
