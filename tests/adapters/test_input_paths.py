"""Which files a data-DAG run may read: CSVs under LEAD_SCORING_HOME or the landing folder, nothing else."""

from __future__ import annotations

import pytest

from lead_scoring.errors import InputDataError
from lead_scoring.pipelines.data import resolve_input_path, validate_step
from lead_scoring.settings import Settings
from tests.factories import raw_leads, write_csv


@pytest.fixture
def places(tmp_path, monkeypatch):
    home, landing, outside = tmp_path / "home", tmp_path / "drop", tmp_path / "outside"
    for folder in (home, landing, outside):
        folder.mkdir()
    monkeypatch.setenv("LEAD_SCORING_HOME", str(home))
    monkeypatch.setenv("LEAD_SCORING_LANDING_DIR", str(landing))
    return Settings.from_env(), home, landing, outside


def test_relative_paths_are_under_home_and_landing_files_are_allowed(places):
    settings, home, landing, _ = places
    assert resolve_input_path(settings, "demo/leads.csv") == (home / "demo" / "leads.csv").resolve()
    assert resolve_input_path(settings, "demo/../leads.csv") == (home / "leads.csv").resolve()
    assert (
        resolve_input_path(settings, str(landing / "leads_2021-12-01.csv"))
        == (landing / "leads_2021-12-01.csv").resolve()
    )


@pytest.mark.parametrize("given", ["../outside/leads.csv", "demo/../../outside/leads.csv", "{outside}/leads.csv"])
def test_paths_that_leave_home_and_landing_are_refused(places, given):
    settings, _, _, outside = places
    given = given.format(outside=outside)
    with pytest.raises(InputDataError) as refused:
        resolve_input_path(settings, given)
    assert str(refused.value) == (
        f"input_path {given!r} is outside LEAD_SCORING_HOME and the landing folder (LEAD_SCORING_LANDING_DIR); "
        "a data-DAG run reads exports from those only"
    )


def test_a_symbolic_link_out_of_home_is_refused(places):
    settings, home, _, outside = places
    (home / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputDataError, match="outside LEAD_SCORING_HOME"):
        resolve_input_path(settings, "link/leads.csv")


def test_only_csv_files(places):
    settings, *_ = places
    with pytest.raises(InputDataError, match="is not a .csv file"):
        resolve_input_path(settings, "airflow/simple_auth_manager_passwords.json.generated")


def test_the_validate_task_reads_nothing_outside(places):
    """The file exists and is a valid export: it is still refused, and its content is never quoted."""
    settings, _, _, outside = places
    leads = raw_leads(5).astype(object)
    leads.loc[0, "referred_lead"] = "a secret cell"
    path = write_csv(leads, outside / "leads.csv")
    with pytest.raises(InputDataError) as refused:
        validate_step(settings, str(path), "run-1")
    assert "secret" not in str(refused.value) and "outside LEAD_SCORING_HOME" in str(refused.value)


def test_the_validate_task_refuses_a_shrink_unless_the_run_allows_it(places, cli):
    settings, home, _, _ = places
    assert cli("prepare", "--input", write_csv(raw_leads(10), home / "ten.csv"))[0] == 0
    write_csv(raw_leads(2), home / "two.csv")
    with pytest.raises(InputDataError, match=r"2 lead\(s\) would replace the 10 in model_input"):
        validate_step(settings, "two.csv", "run-2")
    assert validate_step(settings, "two.csv", "run-3", allow_shrink=True).rows_valid == 2
