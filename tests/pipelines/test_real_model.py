"""The model on the real CodePro leads, out of time: train on Jul-Nov 2021, score December unlabelled.

These are the figures the README and docs/model.md report; they must hold from a fresh clone.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import precision_score, recall_score, roc_auc_score

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

REFERENCE_AUC = 0.729  # one-hot reference features + LightGBM defaults (shared README)


@pytest.fixture(scope="module")
def real_champion(real_data_dir, tmp_path_factory):
    from lead_scoring.cli import main

    home = tmp_path_factory.mktemp("real")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        assert main(["prepare", "--input", str(real_data_dir / "leads_2021H2.csv")]) == 0
        assert main(["train", "--until", "2021-11-30"]) == 0
    return home


def test_champion_beats_the_reference_out_of_time_and_meets_the_targets(real_champion, monkeypatch):
    from lead_scoring.lab.evaluate import out_of_time_report
    from lead_scoring.settings import Settings

    monkeypatch.setenv("LEAD_SCORING_HOME", str(real_champion))
    report = out_of_time_report(Settings.from_env(), "2021-12-01", "2021-12-31")
    assert report.leads > 3500 and report.trained_until.startswith("2021-11-30")
    assert report.champion["auc"] > REFERENCE_AUC and report.champion["auc"] > report.reference["auc"]
    assert report.champion["auc"] > 0.75
    assert report.champion["precision"] > 0.65
    assert report.champion["recall"] > 0.75


def test_scoring_december_unlabelled_then_joining_the_labels(real_champion, real_data_dir, monkeypatch, cli):
    monkeypatch.setenv("LEAD_SCORING_HOME", str(real_champion))
    leads = pd.read_csv(real_data_dir / "leads_2021H2.csv")
    december = leads[leads["created_date"] >= "2021-12-01"]
    december.drop(columns=["app_complete_flag"]).to_csv(real_champion / "dec.csv", index=False)
    december.to_csv(real_champion / "dec_labelled.csv", index=False)

    for _ in range(2):  # scoring twice gives the same rows
        status, out, err = cli("score", "--input", real_champion / "dec.csv", "--top", "0")
        assert status == 0, err
        engine = sa.create_engine(f"sqlite:///{real_champion / 'lead_scoring.db'}")
        predictions = pd.read_sql_table("predictions", engine)
        engine.dispose()
        assert len(predictions) == len(december.drop_duplicates())

    # the same lead gets the same id with or without its label, so the labels join back
    from lead_scoring.pipelines.data import read_and_validate

    labelled, _ = read_and_validate(real_champion / "dec_labelled.csv")
    joined = predictions.merge(labelled[["lead_id", "app_complete_flag"]], on="lead_id", how="inner")
    assert len(joined) == len(predictions)
    y = joined["app_complete_flag"]
    assert roc_auc_score(y, joined["score"]) > 0.75
    assert precision_score(y, joined["predicted_label"]) > 0.65
    assert recall_score(y, joined["predicted_label"]) > 0.75

    # docs/usage.md's command for the same figures
    status, out, _ = cli("evaluate", "--labels", real_champion / "dec_labelled.csv")
    assert status == 0 and f"{len(predictions)} leads" in out
    assert f"AUC {roc_auc_score(y, joined['score']):.3f}" in out


def test_the_backtested_policy_holds_month_by_month_out_of_time(real_champion, monkeypatch):
    """October, November and December 2021, each trained only on the leads before it and flagged day
    by day as the daily DAG would: both targets every month (docs/model.md's per-month table)."""
    from lead_scoring import render
    from lead_scoring.lab.backtest import monthly_report
    from lead_scoring.settings import Settings

    monkeypatch.setenv("LEAD_SCORING_HOME", str(real_champion))
    report = monthly_report(Settings.from_env(), ["2021-10", "2021-11", "2021-12"])
    assert [m.month for m in report.months] == ["2021-10", "2021-11", "2021-12"]
    for month in report.months:
        assert month.daily["precision"] > 0.65 and month.daily["recall"] > 0.75, month
        assert month.auc > 0.75
    december = report.months[-1]
    assert december.auc >= 0.78
    # the rule it replaces flagged 80% of October (precision 0.63; 83% and 0.61 before the recipe
    # search): the case this policy exists for
    october = report.months[0]
    assert october.old_rule["precision"] < 0.65 and october.old_rule["positive_rate"] > 0.75
    assert "meets them in every month" in render.backtest_lines(report)[-1]


def test_training_on_the_real_leads_logs_three_backtest_months_and_their_plot(real_champion, monkeypatch):
    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.settings import Settings

    monkeypatch.setenv("LEAD_SCORING_HOME", str(real_champion))
    settings = Settings.from_env()
    champion = registry.load_scoring_model(settings)
    run = registry.client(settings).get_run(champion.run_id)
    for month in ("2021_09", "2021_10", "2021_11"):  # trained to Nov 30: its last three months
        assert run.data.metrics[f"backtest_{month}_auc"] > 0.75
    assert run.data.metrics["backtest_months"] == 3
    assert run.data.metrics["backtest_min_precision"] > 0.65 and run.data.metrics["backtest_min_recall"] > 0.75
    plots = {a.path for a in registry.client(settings).list_artifacts(run.info.run_id, "plots")}
    assert "plots/backtest.png" in plots
    assert champion.scorer.policy.kind == run.data.params["policy"] == "rank"
