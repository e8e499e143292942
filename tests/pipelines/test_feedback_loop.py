"""The closed loop through the CLI and the feedback DAG: scored leads kept, outcomes in, realized figures per
week, more training data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.conftest import load_dag
from tests.factories import prepare_and_train, write_csv

pytestmark = pytest.mark.slow

NEW = {"rows": 600, "seed": 41, "start": "2021-12-01", "end": "2021-12-14"}  # three ISO weeks


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("loop")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        prepare_and_train(home, generate_leads(6000, seed=21, start="2021-07-01", end="2021-11-30"))
    return home


@pytest.fixture
def loop_home(champion_home, monkeypatch, cli):
    """The module's champion, the training leads as prepared, and no scores or outcomes yet."""
    monkeypatch.setenv("LEAD_SCORING_HOME", str(champion_home))
    monkeypatch.setenv("LEAD_SCORING_MIN_LABELLED_LEADS", "50")
    engine = sa.create_engine(f"sqlite:///{champion_home / 'lead_scoring.db'}")
    with engine.begin() as conn:
        for name in ("predictions", "scoring_runs", "scored_leads", "outcomes", "unmatched_outcomes"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS model_performance"))
    engine.dispose()
    assert cli("prepare", "--input", champion_home / "training_leads.csv")[0] == 0
    return champion_home


def table(home, name: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        return pd.read_sql_table(name, engine)
    finally:
        engine.dispose()


def has_table(home, name: str) -> bool:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        return sa.inspect(engine).has_table(name)
    finally:
        engine.dispose()


def score_new_leads(home, cli) -> None:
    leads = generate_leads(NEW["rows"], seed=NEW["seed"], start=NEW["start"], end=NEW["end"], with_label=False)
    status, _, err = cli("score", "--input", write_csv(leads, home / "new_leads.csv"), "--top", "0")
    assert status == 0, err


def write_outcomes(home, cli, name: str = "outcomes.csv") -> pd.DataFrame:
    path = home / name
    args = ["--rows", NEW["rows"], "--seed", NEW["seed"], "--start", NEW["start"], "--end", NEW["end"]]
    assert cli("generate", *args, "--outcomes", "--out", path)[0] == 0
    return pd.read_csv(path, dtype={"lead_id": str})


def hand_computed(predictions: pd.DataFrame, created: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The weekly figures straight from `predictions` and the outcome file, with sklearn."""
    predictions = predictions.drop(columns=["created_date"], errors="ignore")  # predictions carry it since loop-pool
    frame = predictions.merge(created, on="lead_id").merge(outcomes[["lead_id", "app_complete_flag"]], on="lead_id")
    day = pd.to_datetime(frame["created_date"]).dt.normalize()
    frame["week_start"] = day - pd.to_timedelta(day.dt.dayofweek, unit="D")
    rows = []
    for week, group in frame.groupby("week_start"):
        y, flagged = group["app_complete_flag"], group["predicted_label"]
        rows.append(
            {
                "week_start": week,
                "leads_labelled": len(group),
                "auc": roc_auc_score(y, group["score"]),
                "precision": precision_score(y, flagged),
                "recall": recall_score(y, flagged),
                "f1": f1_score(y, flagged),
                "flagged_share": flagged.mean(),
            }
        )
    return pd.DataFrame(rows)


def test_scoring_keeps_the_model_input_of_every_scored_lead(loop_home, cli):
    score_new_leads(loop_home, cli)
    kept = table(loop_home, "scored_leads")
    predictions = table(loop_home, "predictions")
    assert len(kept) == NEW["rows"] and set(kept["lead_id"]) == set(predictions["lead_id"])
    model_input = table(loop_home, "model_input")
    assert set(kept.columns) == (set(model_input.columns) - {"app_complete_flag"}) | {"first_scored_at"}
    first = kept.set_index("lead_id")["first_scored_at"]

    score_new_leads(loop_home, cli)  # the same leads again: replaced, not duplicated; first scoring time kept
    again = table(loop_home, "scored_leads")
    assert len(again) == NEW["rows"]
    pd.testing.assert_series_equal(again.set_index("lead_id")["first_scored_at"].loc[first.index], first)
    assert table(loop_home, "predictions")["scored_at"].min() > first.max()


def test_feedback_writes_the_weekly_figures_of_the_version_that_scored(loop_home, cli):
    score_new_leads(loop_home, cli)
    outcomes = write_outcomes(loop_home, cli)
    strangers = pd.DataFrame({"lead_id": ["Lnever1", "Lnever2"], "app_complete_flag": [1, 0], "outcome_at": None})
    write_csv(pd.concat([outcomes, strangers]), loop_home / "outcomes.csv")

    status, out, err = cli("feedback", "--outcomes", loop_home / "outcomes.csv")

    assert status == 0, err
    assert "600 matched: 600 new, 0 label(s) changed" in out
    assert "never scored     2 (kept aside in unmatched_outcomes; 0 kept aside before matched now)" in out
    assert "+600 newly labelled lead(s)" in out
    assert sorted(table(loop_home, "unmatched_outcomes")["lead_id"]) == ["Lnever1", "Lnever2"]
    performance = table(loop_home, "model_performance")
    expected = hand_computed(
        table(loop_home, "predictions"), table(loop_home, "scored_leads")[["lead_id", "created_date"]], outcomes
    )
    assert performance["model_version"].tolist() == ["1", "1", "1"]
    assert performance["week_start"].tolist() == [pd.Timestamp(d) for d in ("2021-11-29", "2021-12-06", "2021-12-13")]
    assert performance["leads_scored"].tolist() == performance["leads_labelled"].tolist()
    assert performance["leads_scored"].sum() == 600
    for col in ("leads_labelled", "auc", "precision", "recall", "f1", "flagged_share"):
        np.testing.assert_allclose(performance[col].to_numpy(float), expected[col].to_numpy(float), err_msg=col)
    assert set(performance["status"]) <= {"ok", "below_target"}
    # the realized figures over every labelled lead of the file, as printed
    preds = table(loop_home, "predictions").merge(outcomes, on="lead_id")
    auc = roc_auc_score(preds["app_complete_flag"], preds["score"])
    assert f"600 labelled lead(s) of this file: AUC {auc:.3f}" in out

    # the same figures in MLflow: one run for version 1, stepped by ISO week
    from lead_scoring.adapters.mlflow import registry

    settings = Settings.from_env()
    mlflow_client = registry.client(settings)
    experiment = mlflow_client.get_experiment_by_name("lead_scoring-performance")
    (run,) = mlflow_client.search_runs([experiment.experiment_id], "tags.model_version = '1'")
    history = mlflow_client.get_metric_history(run.info.run_id, "precision")
    assert [m.step for m in history] == [202148, 202149, 202150]
    np.testing.assert_allclose([m.value for m in history], performance["precision"].to_numpy())
    # the business view of the live leads: all 600 labelled leads, the top 100% reaches every application
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "sales")}
    assert artifacts == {"sales/gain_live.json", "sales/buckets_live.json"}
    stored = json.loads(Path(mlflow_client.download_artifacts(run.info.run_id, "sales/gain_live.json")).read_text())
    gain = pd.DataFrame(stored["data"], columns=stored["columns"])
    full = gain[gain["top_percent"] == 100].iloc[0]
    assert full["leads_called"] == 600 and full["applications_reached"] == preds["app_complete_flag"].sum()

    before = {name: table(loop_home, name) for name in ("outcomes", "model_performance", "model_input")}
    status, out, _ = cli("feedback", "--outcomes", loop_home / "outcomes.csv")  # the same file again
    assert status == 0
    assert "600 matched: 0 new, 0 label(s) changed (newer wins), 600 unchanged" in out and "+0 newly" in out
    for name, frame in before.items():
        pd.testing.assert_frame_equal(table(loop_home, name), frame, obj=name)
    (again,) = mlflow_client.search_runs([experiment.experiment_id], "tags.model_version = '1'")
    assert again.info.run_id == run.info.run_id


def test_a_changed_label_is_counted_and_the_newer_one_wins(loop_home, cli):
    score_new_leads(loop_home, cli)
    outcomes = write_outcomes(loop_home, cli)
    assert cli("feedback", "--outcomes", loop_home / "outcomes.csv")[0] == 0
    flipped = outcomes.head(3).assign(
        app_complete_flag=lambda f: 1 - f["app_complete_flag"],
        outcome_at=lambda f: pd.to_datetime(f["outcome_at"]) + pd.Timedelta(days=30),
    )
    older = outcomes.iloc[3:5].assign(
        app_complete_flag=lambda f: 1 - f["app_complete_flag"],
        outcome_at=lambda f: pd.to_datetime(f["outcome_at"]) - pd.Timedelta(days=1),
    )
    write_csv(pd.concat([flipped, older]), loop_home / "later.csv")

    status, out, err = cli("feedback", "--outcomes", loop_home / "later.csv")

    assert status == 0, err
    assert "5 matched: 0 new, 3 label(s) changed (newer wins), 0 unchanged, 2 older label(s) ignored" in out
    assert "+0 newly labelled lead(s), 3 relabelled" in out
    stored = table(loop_home, "outcomes").set_index("lead_id")["app_complete_flag"]
    assert stored.loc[flipped["lead_id"]].tolist() == flipped["app_complete_flag"].tolist()
    assert stored.loc[older["lead_id"]].tolist() == (1 - older["app_complete_flag"]).tolist()
    model_input = table(loop_home, "model_input").set_index("lead_id")["app_complete_flag"]
    assert model_input.loc[flipped["lead_id"]].tolist() == flipped["app_complete_flag"].tolist()
    assert model_input.index.is_unique


def test_bad_outcomes_exit_2_and_write_nothing(loop_home, cli):
    score_new_leads(loop_home, cli)
    outcomes = write_outcomes(loop_home, cli)
    assert cli("feedback", "--outcomes", loop_home / "outcomes.csv")[0] == 0
    before = {name: table(loop_home, name) for name in ("outcomes", "model_performance", "model_input")}
    outcomes["app_complete_flag"] = (1 - outcomes["app_complete_flag"].astype(int)).astype(object)  # all changed...
    outcomes.loc[7, "app_complete_flag"] = "yes"  # ...but one is not a label: none of them may be written

    status, out, err = cli("feedback", "--outcomes", write_csv(outcomes, loop_home / "bad.csv"))

    assert status == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "bad.csv: column 'app_complete_flag': 1 row(s) not 0 or 1, e.g. 'yes' on line 9" in err
    for name, frame in before.items():
        pd.testing.assert_frame_equal(table(loop_home, name), frame, obj=name)
    status, _, err = cli("feedback", "--outcomes", loop_home / "missing.csv")
    assert status == 2 and "missing.csv: no such file" in err


def test_feedback_before_any_scoring_is_a_user_error(loop_home, cli):
    path = write_csv(pd.DataFrame({"lead_id": ["L1"], "app_complete_flag": [1]}), loop_home / "early.csv")
    status, _, err = cli("feedback", "--outcomes", path)
    assert status == 2 and "run `lead-scoring score` first" in err
    assert not has_table(loop_home, "outcomes")


def test_training_afterwards_learns_from_the_newly_labelled_leads(loop_home, cli):
    from lead_scoring.adapters.mlflow import registry

    settings = Settings.from_env()
    champion = registry.version_by_alias(settings, "champion")
    original = int(registry.client(settings).get_run(champion.run_id).data.params["data_rows"])
    score_new_leads(loop_home, cli)
    write_outcomes(loop_home, cli)
    assert cli("feedback", "--outcomes", loop_home / "outcomes.csv")[0] == 0

    status, out, err = cli("train")

    assert status == 0, err
    version = out.split("trained lead_scoring version ")[1].split()[0]
    run_id = registry.client(settings).get_model_version(settings.model_name, version).run_id
    assert int(registry.client(settings).get_run(run_id).data.params["data_rows"]) == original + NEW["rows"]
    if str(registry.version_by_alias(settings, "champion").version) != str(champion.version):
        registry.move_champion(settings, str(champion.version), reason="back to the module's champion")


def test_training_records_the_reason_it_was_retrained_for(loop_home):
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.pipelines import training as training_pipeline

    settings = Settings.from_env()
    run_id = training_pipeline.train_step(settings, tags={"retrain_reason": "week of 2021-12-06 below target"})
    assert registry.client(settings).get_run(run_id).data.tags["retrain_reason"] == "week of 2021-12-06 below target"


def test_feedback_dag_closes_the_loop_reruns_cleanly_and_alerts_below_target(airflow_db, loop_home, cli, monkeypatch):
    """A manual run at 2021-12-21 covers Dec 20: it picks up outcomes_2021-12-20.csv."""
    outcomes_dir = loop_home / "landing" / "outcomes"
    monkeypatch.setenv("LEAD_SCORING_OUTCOMES_DIR", str(outcomes_dir))
    for target in ("AUC", "PRECISION", "RECALL"):
        monkeypatch.setenv(
            f"LEAD_SCORING_TARGET_{target}", "0.001"
        )  # every judged week meets them (0 is refused: targets lie in (0, 1))
    score_new_leads(loop_home, cli)
    write_outcomes(loop_home, cli, name="landing/outcomes/outcomes_2021-12-20.csv")
    rows_before = len(table(loop_home, "model_input"))
    dag = load_dag("lead_scoring_feedback_pipeline.py", "feedback_pipeline_dag")
    when = pd.Timestamp("2021-12-21", tz="UTC").to_pydatetime()

    run = dag.test(logical_date=when)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["publish"] == "success"  # 600 newly labelled leads: model_input is republished
    assert len(table(loop_home, "outcomes")) == 600
    assert len(table(loop_home, "model_input")) == rows_before + 600
    performance = table(loop_home, "model_performance")
    assert performance["leads_labelled"].sum() == 600 and set(performance["status"]) == {"ok"}
    first = {name: table(loop_home, name) for name in ("outcomes", "model_performance", "model_input")}

    rerun = dag.test(logical_date=when)  # the same interval again: nothing changes, nothing to retrain on

    states = {ti.task_id: ti.state for ti in rerun.get_task_instances()}
    assert rerun.state == "success", states
    assert states["publish"] == "skipped" and states["check_targets"] == "success"
    for name, frame in first.items():
        pd.testing.assert_frame_equal(table(loop_home, name), frame, obj=name)

    monkeypatch.setenv("LEAD_SCORING_TARGET_PRECISION", "0.99")  # now the latest complete week misses it
    alerted = dag.test(logical_date=when)

    states = {ti.task_id: ti.state for ti in alerted.get_task_instances()}
    assert alerted.state == "failed"
    assert states["check_targets"] == "failed"
    assert states["publish"] == "success"  # the week below target is a reason to retrain


def test_feedback_dag_skips_a_day_without_outcomes(airflow_db, loop_home, monkeypatch):
    monkeypatch.setenv("LEAD_SCORING_OUTCOMES_DIR", str(loop_home / "no-outcomes"))
    run = load_dag("lead_scoring_feedback_pipeline.py", "feedback_pipeline_dag").test(
        logical_date=pd.Timestamp("2021-12-22", tz="UTC").to_pydatetime()
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["find_outcomes"] == "success" and states["ingest"] == "skipped" and states["publish"] == "skipped"
