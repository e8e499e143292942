"""Scoring new leads with the champion: predictions, idempotence, lineage, thin evidence, drift, the daily DAG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.lab.generate import generate_leads
from tests.conftest import load_dag
from tests.factories import prepare_and_train, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("champion")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        prepare_and_train(home, generate_leads(6000, seed=21, start="2021-07-01", end="2021-11-30"))
    return home


@pytest.fixture
def scoring_home(champion_home, monkeypatch):
    monkeypatch.setenv("LEAD_SCORING_HOME", str(champion_home))
    engine = sa.create_engine(f"sqlite:///{champion_home / 'lead_scoring.db'}")
    with engine.begin() as conn:  # every test starts with no scores
        conn.execute(sa.text("DROP TABLE IF EXISTS predictions"))
        conn.execute(sa.text("DROP TABLE IF EXISTS scoring_runs"))
        conn.execute(sa.text("DROP TABLE IF EXISTS scored_leads"))
    engine.dispose()
    return champion_home


def table(home: Path, name: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        return pd.read_sql_table(name, engine)
    finally:
        engine.dispose()


def new_leads(home: Path, rows: int = 300, seed: int = 5, **edits) -> Path:
    leads = generate_leads(rows, seed=seed, start="2021-12-01", end="2021-12-10", with_label=False)
    for column, value in edits.items():
        leads[column] = value
    return write_csv(leads, home / f"new_{seed}.csv")


def test_score_writes_predictions_hottest_first_with_reasons(scoring_home, cli):
    out_csv = scoring_home / "scored.csv"
    status, out, err = cli("score", "--input", new_leads(scoring_home), "--output", out_csv)
    assert status == 0, err
    assert "leads scored     300" in out and "the 10 hottest leads" in out
    predictions = table(scoring_home, "predictions")
    assert len(predictions) == 300 and predictions["lead_id"].is_unique
    assert predictions["score"].between(0, 1).all()
    assert set(predictions["bucket"]) <= {"hot", "warm", "cold"}
    assert predictions["top_reasons"].str.count(";").eq(2).all()  # three reasons each
    assert set(predictions["model_version"]) == {"1"} and set(predictions["model_name"]) == {"lead_scoring"}
    written = pd.read_csv(out_csv)
    assert written["score"].is_monotonic_decreasing and len(written) == 300
    runs = table(scoring_home, "scoring_runs")
    assert len(runs) == 1 and runs.loc[0, "rows_scored"] == 300 and runs.loc[0, "status"] == "ok"


def test_lead_ids_shown_on_the_terminal_cannot_send_escape_sequences(scoring_home, cli):
    """An id from the export was printed as is: ESC [2J cleared the screen, ESC ]0; set the title (#23.8)."""
    leads = generate_leads(2, seed=3, start="2021-12-01", end="2021-12-02", with_label=False)
    leads.insert(0, "lead_id", ["L1\x1b[2J", "L2\x1b]0;owned\x07"])
    status, out, err = cli("score", "--input", write_csv(leads, scoring_home / "escapes.csv"))
    assert status == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "  L1\\x1b[2J  " in out and "  L2\\x1b]0;owned\\x07  " in out
    # the id itself is kept as given: only what reaches the terminal is escaped
    assert set(table(scoring_home, "predictions")["lead_id"]) == {"L1\x1b[2J", "L2\x1b]0;owned\x07"}


def test_score_output_is_safe_to_open_in_a_spreadsheet(scoring_home, cli):
    leads = generate_leads(4, seed=3, start="2021-12-01", end="2021-12-02", with_label=False)
    hostile = ['=HYPERLINK("http://evil.example","open me")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
    leads.insert(0, "lead_id", hostile)
    out_csv = scoring_home / "scored_hostile.csv"
    status, _, err = cli("score", "--input", write_csv(leads, scoring_home / "hostile.csv"), "--output", out_csv)
    assert status == 0, err
    written = pd.read_csv(out_csv, dtype={"lead_id": str})
    assert sorted(written["lead_id"]) == sorted("'" + lead_id for lead_id in hostile)
    assert written["score"].dtype == "float64"
    assert sorted(table(scoring_home, "predictions")["lead_id"]) == sorted(hostile)  # the database keeps the ids


def test_scoring_the_same_leads_again_replaces_their_rows(scoring_home, cli):
    path = new_leads(scoring_home)
    assert cli("score", "--input", path)[0] == 0
    first = table(scoring_home, "predictions")
    assert cli("score", "--input", path)[0] == 0
    second = table(scoring_home, "predictions")
    assert len(second) == len(first) == 300
    pd.testing.assert_series_equal(
        second.sort_values("lead_id")["score"].reset_index(drop=True),
        first.sort_values("lead_id")["score"].reset_index(drop=True),
    )
    assert len(table(scoring_home, "scoring_runs")) == 1


def test_a_new_champion_scores_beside_the_old_one(scoring_home, cli):
    path = new_leads(scoring_home, rows=50)
    assert cli("score", "--input", path)[0] == 0
    assert cli("train", "--force-promote", "--reason", "lineage test")[0] == 0
    try:
        assert cli("score", "--input", path)[0] == 0
        predictions = table(scoring_home, "predictions")
        assert len(predictions) == 100
        assert predictions.groupby("model_version")["lead_id"].nunique().to_dict() == {"1": 50, "2": 50}
    finally:
        assert cli("rollback", "--reason", "back to the module's champion")[0] == 0


def test_thin_evidence_is_scored_and_counted(scoring_home, cli):
    """40 leads with no city: unusual (about 4% of the training leads have none), so the summary says
    so; their share with no interactions is what the training leads had, so it says nothing of it."""
    path = new_leads(scoring_home, rows=40, seed=9, city_mapped=None)
    status, out, _ = cli("score", "--input", path)
    assert status == 0
    [line] = [line for line in out.splitlines() if "thin evidence" in line]
    assert line.strip() == "thin evidence    no city 40 (100% vs 4% in training)"
    runs = table(scoring_home, "scoring_runs")
    assert '"missing_city": 40' in runs.loc[0, "unusual_inputs"]  # every count is still recorded
    assert '"no_interactions": ' in runs.loc[0, "unusual_inputs"]


def test_a_batch_like_the_training_leads_has_no_thin_evidence_line(scoring_home, cli):
    status, out, _ = cli("score", "--input", new_leads(scoring_home, rows=300, seed=10))
    assert status == 0 and "thin evidence" not in out


def test_scoring_runs_in_mlflow_are_named_after_what_they_scored(scoring_home, cli):
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    assert cli("score", "--input", new_leads(scoring_home, rows=120, seed=11))[0] == 0
    settings = Settings.from_env()
    mlflow_client = registry.client(settings)
    experiment = mlflow_client.get_experiment_by_name("lead_scoring-scoring")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    names = {run.info.run_name for run in mlflow_client.search_runs([experiment.experiment_id])}
    assert "score new_11.csv · 120 leads" in names


def test_a_shifted_batch_is_flagged_as_drifted(scoring_home, cli):
    path = new_leads(scoring_home, rows=400, seed=13, first_utm_source_c="Level999", first_utm_medium_c="Level998")
    status, out, err = cli("score", "--input", path)
    assert status == 0  # scores are written; the run is marked, and the DAG's monitor task fails
    assert "drifted" in out and "first_utm_source_c_raw" in err
    assert table(scoring_home, "scoring_runs").loc[0, "status"] == "drifted"
    assert len(table(scoring_home, "predictions")) == 400


def test_bad_scoring_input_writes_nothing(scoring_home, cli):
    leads = generate_leads(10, seed=1, with_label=False).astype(object)
    leads.loc[3, "referred_lead"] = "yes"
    status, _, err = cli("score", "--input", write_csv(leads, scoring_home / "bad.csv"))
    assert status == 2 and "referred_lead" in err and "'yes'" in err
    engine = sa.create_engine(f"sqlite:///{scoring_home / 'lead_scoring.db'}")
    assert not sa.inspect(engine).has_table("predictions")
    engine.dispose()


def test_an_infinite_count_is_refused_with_one_line_not_a_traceback(scoring_home, cli):
    leads = generate_leads(10, seed=2, with_label=False).astype(object)
    leads.loc[4, "total_leads_droppped"] = "1e309"  # parses as inf
    path = write_csv(leads, scoring_home / "inf.csv")
    status, _, err = cli("score", "--input", path)
    assert status == 2
    assert err == (
        f"error: {path}: column 'total_leads_droppped': 1 row(s) not a finite number, e.g. '1e309' on line 6\n"
    )
    engine = sa.create_engine(f"sqlite:///{scoring_home / 'lead_scoring.db'}")
    assert not sa.inspect(engine).has_table("predictions")
    engine.dispose()


def test_inference_dag_scores_one_days_interval_and_reruns_cleanly(airflow_db, scoring_home, monkeypatch):
    """A manual run at 2021-12-05 covers the last whole day, Dec 4: only that day's leads are scored."""
    landing = scoring_home / "landing"
    monkeypatch.setenv("LEAD_SCORING_LANDING_DIR", str(landing))
    leads = generate_leads(600, seed=17, start="2021-12-03", end="2021-12-05", with_label=False)
    created = pd.to_datetime(leads["created_date"])
    in_day = (created >= "2021-12-04") & (created < "2021-12-05")
    leads.insert(0, "lead_id", [f"L{i}" for i in range(len(leads))])
    leads.loc[in_day.idxmax(), "lead_id"] = "=HYPERLINK(1)"  # one of the day's leads would run as a formula
    write_csv(leads, landing / "leads_2021-12-04.csv")
    dag = load_dag("lead_scoring_inference_pipeline.py", "inference_pipeline_dag")
    outbox = scoring_home / "outbox" / "scored_2021-12-04.csv"
    outbox.unlink(missing_ok=True)

    for _ in range(2):  # a rerun of the same interval replaces its own rows and rewrites its file
        run = dag.test(logical_date=pd.Timestamp("2021-12-05", tz="UTC").to_pydatetime())
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        start = pd.Timestamp(run.data_interval_start).tz_convert(None)
        assert start == pd.Timestamp("2021-12-04")
        in_interval = ((created >= start) & (created < start + pd.Timedelta(days=1))).sum()
        predictions = table(scoring_home, "predictions")
        # an earlier test left a challenger beside the champion: it scored the day as a shadow
        assert set(predictions["role"]) <= {"champion", "shadow"}
        predictions = predictions[predictions["role"] == "champion"]
        assert 0 < len(predictions) == in_interval < len(leads)
        scored = table(scoring_home, "scored_leads")  # kept for the feedback loop
        assert set(scored["lead_id"]) == set(predictions["lead_id"]) and len(scored) == in_interval
        sent = pd.read_csv(outbox, dtype={"lead_id": str})
        assert len(sent) == in_interval and sent["score"].is_monotonic_decreasing  # the day's leads, hottest first
        assert set(sent["lead_id"]) == {"'" + i if i.startswith("=") else i for i in predictions["lead_id"]}
        assert "'=HYPERLINK(1)" in set(sent["lead_id"])  # spreadsheet-safe
        outbox.write_text("lead_id\nstale\n")  # the rerun must rewrite it whole
    runs = table(scoring_home, "scoring_runs")
    assert len(runs) == 1 and runs.loc[0, "interval_start"].startswith("2021-12-04")
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    settings = Settings.from_env()
    experiment = registry.client(settings).get_experiment_by_name("lead_scoring-scoring")
    names = [run.info.run_name for run in registry.client(settings).search_runs([experiment.experiment_id])]
    assert "score 2021-12-04" in names


def test_inference_dag_fails_its_monitor_task_on_drift(airflow_db, scoring_home, monkeypatch):
    landing = scoring_home / "landing-drift"
    monkeypatch.setenv("LEAD_SCORING_LANDING_DIR", str(landing))
    # a one-day drift window: the day alone is a whole window (a longer one waits for a week of scores)
    monkeypatch.setenv("LEAD_SCORING_DRIFT_WINDOW_DAYS", "1")
    leads = generate_leads(300, seed=19, start="2021-12-04", end="2021-12-04", with_label=False)
    leads["first_utm_source_c"] = "Level999"
    write_csv(leads, landing / "leads_2021-12-04.csv")
    dag = load_dag("lead_scoring_inference_pipeline.py", "inference_pipeline_dag")

    run = dag.test(logical_date=pd.Timestamp("2021-12-05", tz="UTC").to_pydatetime())

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["monitor"] == "failed" and states["write"] == "success"
    predictions = table(scoring_home, "predictions")
    assert (predictions["role"] == "champion").sum() == 300  # the scores are there for sales anyway
    assert table(scoring_home, "scoring_runs").loc[0, "status"] == "drifted"
