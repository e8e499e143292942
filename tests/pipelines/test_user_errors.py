"""Every user error is one line and exit status 2, and nothing is written before it (issue #23.7).

Each case ended in a traceback (or in wrong advice) before; each message is written out in full.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters.sources import read_raw_leads
from lead_scoring.errors import InputDataError
from tests.factories import raw_leads, write_csv

DAY = "(expected YYYY-MM-DD, e.g. 2021-11-30)"


@pytest.fixture
def leads_csv(home):
    return write_csv(raw_leads(6), home / "leads.csv")


def one_line_exit_2(cli, *args) -> str:
    status, _, err = cli(*args)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--until", "2021-11-30T00:00:00+05:00"), f"--until '2021-11-30T00:00:00+05:00' is not a day {DAY}"),
        (("train", "--until", "now"), f"--until 'now' is not a day {DAY}"),
        (("train", "--until", "2021-02-30"), f"--until '2021-02-30' is not a day {DAY}"),
        (("evaluate", "--since", "garbage"), f"--since 'garbage' is not a day {DAY}"),
        (("evaluate", "--since", "2021-11-01", "--until", "30/11/2021"), f"--until '30/11/2021' is not a day {DAY}"),
    ],
)
def test_a_day_that_is_not_yyyy_mm_dd_is_refused_before_anything_is_read(args, message, home, leads_csv, cli):
    assert cli("prepare", "--input", leads_csv)[0] == 0
    assert one_line_exit_2(cli, *args) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "garbage"), f"--start 'garbage' is not a day {DAY}"),
        (("--end", "2021-13-01"), f"--end '2021-13-01' is not a day {DAY}"),
        (
            ("--start", "2021-12-01", "--end", "2021-11-01"),
            "--start 2021-12-01 is after --end 2021-11-01: no day between them",
        ),
    ],
)
def test_bad_generate_dates_are_one_line_and_no_file(args, message, home, cli):
    assert one_line_exit_2(cli, "generate", "--rows", "5", "--out", home / "g.csv", *args) == message
    assert not (home / "g.csv").exists()


def test_a_staging_database_that_is_a_folder_or_under_a_file(home, leads_csv, cli):
    (home / "folder").mkdir()
    (home / "plain").write_text("x")
    folder, under = f"sqlite:///{home / 'folder'}", f"sqlite:///{home / 'plain' / 'sub.db'}"
    assert one_line_exit_2(cli, "prepare", "--input", leads_csv, "--db", folder) == (
        f"staging database {folder}: {home / 'folder'} is a folder, not a database file"
    )
    assert one_line_exit_2(cli, "prepare", "--input", leads_csv, "--db", under) == (
        f"staging database {under}: cannot create its folder {home / 'plain'} ({home / 'plain'} is a file)"
    )


def test_an_unreachable_postgres_is_one_line_with_the_password_masked(home, leads_csv, cli):
    pytest.importorskip("psycopg2")
    message = one_line_exit_2(cli, "prepare", "--input", leads_csv, "--db", "postgresql://u:secret@127.0.0.1:1/x")
    assert message.startswith("cannot open the staging database postgresql://u:***@127.0.0.1:1/x: ")
    assert "secret" not in message


def test_an_unknown_tracking_uri_scheme_is_one_line(home, monkeypatch, cli):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://bar")
    new = write_csv(raw_leads(6, with_label=False), home / "new.csv")
    assert one_line_exit_2(cli, "score", "--input", new) == (
        "MLFLOW_TRACKING_URI='foo://bar' is not a tracking store MLflow can use "
        "(sqlite:///PATH, postgresql://HOST/DB or http(s)://SERVER)"
    )


def test_an_unreachable_mlflow_is_not_reported_as_no_champion(home, monkeypatch, cli):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    new = write_csv(raw_leads(6, with_label=False), home / "new.csv")
    message = one_line_exit_2(cli, "score", "--input", new)
    assert message.startswith("cannot reach the MLflow tracking store http://127.0.0.1:1: ")
    assert "run train first" not in message and "no champion" not in message


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_score_output_is_checked_before_any_row_is_written(where, home, cli):
    (home / "out").mkdir()
    (home / "plain").write_text("x")
    new = write_csv(raw_leads(6, with_label=False), home / "new.csv")
    output = home / "out" if where == "folder" else home / "plain" / "scores.csv"
    expected = (
        f"--output {output} is a folder: give a file name, e.g. {output / 'scores.csv'}"
        if where == "folder"
        else f"--output {output}: {home / 'plain'} is a file, not a folder"
    )
    assert one_line_exit_2(cli, "score", "--input", new, "--output", output) == expected
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        assert not sa.inspect(engine).has_table("predictions")
    finally:
        engine.dispose()


def test_a_truncated_last_row_is_refused(home):
    path = write_csv(raw_leads(6, with_label=False), home / "new.csv")
    lines = path.read_text().splitlines()
    lines[-1] = ",".join(lines[-1].split(",")[:42])  # the last row loses its last two fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputDataError) as caught:
        read_raw_leads(path)
    assert str(caught.value) == (
        f"{path}: the last row has 42 field(s) but the header has 44: the file looks cut short "
        "(an interrupted download or copy?); nothing was read"
    )


def test_a_landing_file_that_is_not_utf8_is_said_so_not_a_missing_column(settings, home):
    from lead_scoring.pipelines.inference import check_input_step

    settings.landing_dir.mkdir(parents=True)
    leads = raw_leads(6, with_label=False)
    leads.loc[2, "city_mapped"] = "bh\u00e2ratpur"
    path = settings.landing_dir / "leads_2021-08-01.csv"
    leads.to_csv(path, index=False, encoding="latin-1")
    offset = path.read_bytes().index(b"\xe2")
    with pytest.raises(InputDataError) as caught:
        check_input_step(settings, "2021-08-01T00:00:00+00:00", "2021-08-02T00:00:00+00:00")
    assert str(caught.value) == f"{path}: not UTF-8 text (byte 0xe2 at offset {offset})"


def test_a_day_is_read_as_midnight_of_that_day():
    from lead_scoring.core.days import parse_day

    assert parse_day(" 2021-11-30 ", "--until") == pd.Timestamp("2021-11-30 00:00")
