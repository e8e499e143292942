"""Training through the CLI on SQLite: the registry gate, promote/rollback, and refusals that change nothing."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lead_scoring.lab.generate import generate_leads
from lead_scoring.settings import Settings
from tests.factories import write_csv

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Trained:
    """A home after two trainings: version 1 promoted (generated leads), version 2 rejected (shuffled labels)."""

    home: Path
    first_out: str  # what `train` printed the first time
    first_state: tuple[str | None, list[str]]  # (champion, versions) right after it
    weak_status: int
    weak_out: str
    weak_reads: int  # reads of model_input during the second training (a champion to compare with)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """Built once for the module; every test gets its own copy (``env``), so no test depends on another's
    promotions or rollbacks, and any one of them runs alone or in any order."""
    home = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        mp.setenv("LEAD_SCORING_USER", "test-analyst")
        # 2,500 leads a month: three backtest months each clear the targets (1,000 a month did not)
        write_csv(generate_leads(15000, seed=11), home / "leads.csv")
        assert _run(["prepare", "--input", home / "leads.csv"])[0] == 0
        status, first_out = _run(["train"])
        assert status == 0, first_out
        settings = Settings.from_env()
        first_state = registry_state(settings)
        reads = _count_model_input_reads(mp)
        with _shuffled_labels(settings.db_url):
            weak_status, weak_out = _run(["train"])
    return Trained(home, first_out, first_state, weak_status, weak_out, len(reads))


def _count_model_input_reads(mp: pytest.MonkeyPatch) -> list[str]:
    from lead_scoring.adapters.staging import StagingDatabase

    reads: list[str] = []
    read_table = StagingDatabase.read_table

    def counted(self, name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "model_input":
            reads.append(name)
        return read_table(self, name, *args, **kwargs)

    mp.setattr(StagingDatabase, "read_table", counted)
    return reads


def _run(args: list) -> tuple[int, str]:
    from lead_scoring.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(a) for a in args])
    return status, out.getvalue()


@contextlib.contextmanager
def _shuffled_labels(db_url: str) -> Iterator[None]:
    """model_input's labels permuted (a model of them is no better than chance), restored afterwards."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        labels = [row[0] for row in conn.execute(sa.text("SELECT app_complete_flag FROM model_input ORDER BY lead_id"))]
        shuffled = np.random.default_rng(0).permutation(labels).tolist()
        ids = [row[0] for row in conn.execute(sa.text("SELECT lead_id FROM model_input ORDER BY lead_id"))]
        conn.execute(
            sa.text("UPDATE model_input SET app_complete_flag = :y WHERE lead_id = :i"),
            [{"y": y, "i": i} for y, i in zip(shuffled, ids, strict=True)],
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE model_input SET app_complete_flag = :y WHERE lead_id = :i"),
                [{"y": y, "i": i} for y, i in zip(labels, ids, strict=True)],
            )
        engine.dispose()


@pytest.fixture
def env(trained, tmp_path, monkeypatch):
    """A private copy of the trained home: champion 1, versions 1 and 2, challenger 2. Its runs' artifacts
    stay in the module's home (MLflow records absolute locations); no test here writes artifacts."""
    home = tmp_path / "home"
    shutil.copytree(trained.home, home)
    monkeypatch.setenv("LEAD_SCORING_HOME", str(home))
    monkeypatch.setenv("LEAD_SCORING_USER", "test-analyst")
    return Settings.from_env()


def registry_state(settings: Settings) -> tuple[str | None, list[str]]:
    from lead_scoring.adapters.mlflow import registry

    champion = registry.version_by_alias(settings, "champion")
    versions = registry.client(settings).search_model_versions(f"name = '{settings.model_name}'")
    return (str(champion.version) if champion else None), sorted(str(v.version) for v in versions)


def test_first_training_registers_and_promotes_a_champion(trained, env):
    out = trained.first_out
    assert "PROMOTED to champion" in out
    # the printed link opens the runs view
    assert "see it in the MLflow UI: http://localhost:5000/#/experiments/" in out
    assert "/runs?workflowType=machine_learning (make mlflow; " in out
    assert trained.first_state == ("1", ["1"])
    from lead_scoring.adapters.mlflow import registry

    run = registry.client(env).get_run(registry.version_by_alias(env, "champion").run_id)
    for metric in ("valid_auc", "valid_precision", "valid_recall", "valid_f1", "valid_log_loss", "valid_threshold"):
        assert metric in run.data.metrics
    assert run.data.metrics["valid_auc"] > 0.75
    assert {"data_rows", "data_content_sha256", "data_created_from", "data_created_to"} <= set(run.data.params)
    artifacts = {a.path for a in registry.client(env).list_artifacts(run.info.run_id, "plots")}
    assert {
        "plots/roc_curve.png",
        "plots/precision_recall_curve.png",
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
        "plots/calibration.png",
        "plots/backtest.png",
    } <= artifacts
    # the leads span Jul-Dec 2021: the last three months are backtested, each month's figures logged
    for month in ("2021_10", "2021_11", "2021_12"):
        for name in ("auc", "precision", "recall", "base_rate", "flagged_share"):
            assert 0 < run.data.metrics[f"backtest_{month}_{name}"] <= 1
    assert not any(key.startswith("backtest_2021_09") for key in run.data.metrics)
    for name in ("auc", "precision", "recall"):
        assert run.data.metrics[f"backtest_min_{name}"] == min(
            run.data.metrics[f"backtest_2021_{m}_{name}"] for m in ("10", "11", "12")
        )
    assert run.data.params["policy"] in {"rank", "balanced", "validation"}
    table = registry.client(env).list_artifacts(run.info.run_id, "backtest")
    assert [a.path for a in table] == ["backtest/months.json", "backtest/recipes.json"]
    # every candidate recipe's AUC in every backtest month, and the chosen one named
    recipe_months = {k for k in run.data.metrics if k.startswith("recipe_") and k.endswith("_auc")}
    assert recipe_months == {f"recipe_{r}_2021_{m}_auc" for r in RECIPE_KEYS for m in ("10", "11", "12")}
    assert run.data.params["recipe"] in run.data.tags["recipe_choice"]
    # the model serves the policy the run names
    scorer = registry.load_scoring_model(env).scorer
    assert scorer.policy.kind == run.data.params["policy"]
    assert scorer.policy.cut == pytest.approx(float(run.data.params["policy_cut"]))
    assert (Path(env.artifact_root)).is_dir()  # artifacts live under LEAD_SCORING_HOME/mlruns


RECIPE_KEYS = ("plain", "recency", "encoded", "encoded_recency", "encoded_recency_no_raw_city")


def test_the_run_opens_on_the_runs_view_says_what_it_is_and_shows_its_data(env):
    """The experiment opens on its runs (not the GenAI view), the run has a readable name and the
    training leads as its dataset, and the sales view: gain plot, gain and bucket tables, gain at 30%."""
    from lead_scoring.adapters.mlflow import registry

    mlflow_client = registry.client(env)
    experiment = mlflow_client.get_experiment_by_name("lead_scoring")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    link = f"http://localhost:5000/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    assert registry.experiment_link(env) == link
    run = mlflow_client.get_run(registry.version_by_alias(env, "champion").run_id)
    assert run.info.run_name == "train to 2021-12-31 · 15,000 leads"
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "model_input to 2021-12-31"
    assert dataset.digest == run.data.params["data_content_sha256"]
    assert "lead_scoring.db#model_input" in dataset.source
    assert [tag.value for tag in dataset_input.tags if tag.key == "mlflow.data.context"] == ["training"]

    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/cumulative_gain.png" in artifacts
    assert {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "sales")} == {
        "sales/buckets_validation.json",
        "sales/gain_validation.json",
    }
    gain = _logged_table(env, run.info.run_id, "sales/gain_validation.json")
    assert gain["top_percent"].tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert gain["share_of_applications"].is_monotonic_increasing and gain["share_of_applications"].iloc[-1] == 1.0
    at_30 = gain.loc[gain["top_percent"] == 30, "share_of_applications"].item()
    assert run.data.metrics["valid_gain_at_30pct"] == pytest.approx(at_30)
    assert at_30 > 0.3  # a useful model reaches more than calling at random would
    buckets = _logged_table(env, run.info.run_id, "sales/buckets_validation.json")
    assert buckets["bucket"].tolist() == ["hot", "warm", "cold"]
    validation = registry.load_validation(env, run.info.run_id)
    assert buckets["leads"].sum() == len(validation)
    assert buckets["applications"].sum() == validation["app_complete_flag"].sum()


def test_the_registered_pyfunc_scores_what_scoring_meets(env):
    """Raw leads with no lead id, null and never-seen cities and levels, empty interactions, int counts
    and a label: one answer per lead in, in order."""
    from lead_scoring.adapters.mlflow import registry
    from tests.factories import raw_leads

    model = registry.load_scoring_model(env).model  # the champion's pyfunc, as the registry serves it
    leads = raw_leads(6)  # with a label, which the model ignores
    leads["city_mapped"] = [None, "atlantis", np.nan, "mumbai", None, "pune"]
    leads["first_platform_c"] = [None, "Level999", "Level0", None, "Level0", "Level0"]
    leads["syllabus"] = np.nan
    leads["referred_lead"] = [1, 0, 1, 0, 0, 1]
    out = model.predict(leads)
    assert list(out.columns) == ["lead_id", "score", "predicted_label", "bucket", "top_reasons", "error"]
    assert len(out) == 6 and out["error"].isna().all() and out["lead_id"].str.startswith("L").all()
    assert out["score"].between(0, 1).all() and set(out["predicted_label"]) <= {0, 1}
    threshold = model.unwrap_python_model().scorer.policy.cut  # no batch scored yet: the reference cut
    assert (out["predicted_label"] == (out["score"] >= threshold).astype(int)).all()
    assert all(len(reasons.split("; ")) == 3 for reasons in out["top_reasons"])
    # same row order: scoring one lead alone gives its answer in the batch
    alone = model.predict(leads.iloc[[4]])
    assert alone.iloc[0].to_dict() == out.iloc[4].to_dict()


def _logged_table(env, run_id: str, path: str):  # noqa: ANN001, ANN202 - settings in, a DataFrame out
    import pandas as pd

    from lead_scoring.adapters.mlflow.tracking import tracking

    table = tracking(env).store.load_document(run_id, path)
    return pd.DataFrame(table["data"], columns=table["columns"])


def test_a_weak_candidate_is_registered_but_not_promoted(trained, env):
    """Shuffled labels: the candidate is version 2 with alias challenger; the champion stays version 1."""
    from lead_scoring.adapters.mlflow import registry

    assert trained.weak_status == 0
    assert "not promoted" in trained.weak_out and "misses target" in trained.weak_out
    assert registry_state(env) == ("1", ["1", "2"])
    version = registry.client(env).get_model_version(env.model_name, "2")
    assert version.tags["promotion_decision"] == "rejected"
    assert str(registry.version_by_alias(env, "challenger").version) == "2"


def test_a_training_run_reads_model_input_once(trained):
    """Checking the input, training and comparing with the champion share one read (three before:
    a million leads take seconds to read)."""
    assert trained.weak_reads == 1


def test_promote_and_rollback_are_recorded(env, cli):
    from lead_scoring.adapters.mlflow import registry

    status, out, _ = cli("promote", "2", "--reason", "testing the rollback")
    assert status == 0 and registry_state(env)[0] == "2"
    tags = registry.client(env).get_model_version(env.model_name, "2").tags
    assert tags["promoted_by"] == "test-analyst" and "testing the rollback" in tags["promotion_reason"]

    status, out, _ = cli("rollback", "--reason", "shuffled labels")
    assert status == 0 and "from version 2 to version 1" in out
    assert registry_state(env)[0] == "1"
    history = registry.champion_history(env)
    assert [entry["version"] for entry in history] == ["1", "2", "1"]
    assert all(entry["alias"] == "champion" for entry in history)
    assert all(entry["by"] == "test-analyst" and entry["at"] for entry in history)


def test_promoting_a_missing_version_is_a_clear_error(env, cli):
    status, _, err = cli("promote", "99", "--reason", "typo")
    assert status == 2
    assert err.startswith("error:") and "99" in err
    assert registry_state(env)[0] == "1"


def test_backtest_refuses_what_is_not_a_month_or_has_no_history(env, cli):
    status, _, err = cli("backtest", "--months", "2021-13")
    assert status == 2 and err.strip() == "error: --months: '2021-13' is not a month (expected YYYY-MM)"
    status, _, err = cli("backtest", "--months", "2021-07")
    assert status == 2 and "2021-07: need labelled leads of both classes in the month, and leads before it" in err
    assert len(err.strip().splitlines()) == 1


def test_rollback_walks_back_through_a_long_history_and_versions_are_numbers(env, cli):
    """Champion 1, then promotions 2, 1, 2 ("02" recorded as "2"): rollbacks walk back 2 -> 1 -> 2 -> 1
    through the history (they do not toggle between the last two), and one more has nowhere to go."""
    from lead_scoring.adapters.mlflow import registry

    for version in ("2", "1", "02"):
        assert cli("promote", version, "--reason", f"promote {version}")[0] == 0
    assert registry_state(env)[0] == "2"
    assert [entry["version"] for entry in registry.champion_history(env)] == ["1", "2", "1", "2"]

    walked = []
    for step in range(3):
        status, out, err = cli("rollback", "--reason", f"step {step}")
        assert status == 0, err
        walked.append((out.split("from version ")[1].split()[0], registry_state(env)[0]))
    assert walked == [("2", "1"), ("1", "2"), ("2", "1")]
    status, _, err = cli("rollback", "--reason", "one too many")
    assert status == 2
    assert err == "error: version 1 is the oldest champion in the history; nothing earlier to roll back to\n"
    assert registry_state(env)[0] == "1"
    assert [entry["version"] for entry in registry.champion_history(env)] == ["1", "2", "1", "2", "1", "2", "1"]


@pytest.mark.parametrize(
    "args",
    [
        ("promote", "2", "--reason", ""),
        ("promote", "2", "--reason", "   "),
        ("rollback", "--reason", ""),
        ("train", "--force-promote", "--reason", " "),
        ("train", "--force-promote"),
    ],
)
def test_a_move_of_champion_needs_a_reason(args, env, cli):
    from lead_scoring.adapters.mlflow import registry

    before = registry.champion_history(env)
    status, out, err = cli(*args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "--reason" in err and "give a reason" in err
    assert registry_state(env) == ("1", ["1", "2"])
    assert registry.champion_history(env) == before


def test_champion_stack_walks_back_through_promotions_and_rollbacks():
    from lead_scoring.adapters.mlflow.registry import champion_stack

    promoted = [{"version": v} for v in ("1", "2", "3")]
    assert champion_stack(promoted) == ["1", "2", "3"]
    one_back = [*promoted, {"version": "2", "rollback": True}]
    assert champion_stack(one_back) == ["1", "2"]
    assert champion_stack([*one_back, {"version": "1", "rollback": True}]) == ["1"]
    # what a move is is a field, never its reason's text (issue #23.5)
    assert champion_stack([*promoted, {"version": "2", "why": "rollback from version 3: bad"}]) == ["1", "2", "3", "2"]
    # a version promoted again is held again
    assert champion_stack([*promoted, {"version": "1"}]) == ["1", "2", "3", "1"]


@pytest.mark.parametrize(
    "rows, positives, message",
    [(40, None, "only 40 lead(s) to train on"), (2000, 0, "0 converted")],
)
def test_too_little_evidence_is_refused_and_changes_nothing(rows, positives, message, home, cli):
    leads = generate_leads(rows, seed=2)
    if positives == 0:
        leads["app_complete_flag"] = 0
    assert cli("prepare", "--input", write_csv(leads, home / "few.csv"))[0] == 0
    status, out, err = cli("train")
    assert status == 2
    assert err.strip().startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (home / "mlruns").exists() or not any((home / "mlruns").rglob("MLmodel"))
    from lead_scoring.adapters.mlflow.tracking import tracking

    assert tracking(Settings.from_env()).versions.model_tags() is None  # no registered model was ever created


def test_train_without_prepare_says_what_to_do(home, cli):
    status, _, err = cli("train")
    assert status == 2
    assert "table 'model_input' does not exist" in err and "lead-scoring prepare" in err


def test_scoring_without_a_champion_says_train_first(home, cli):
    write_csv(generate_leads(20, seed=3, with_label=False), home / "new.csv")
    status, _, err = cli("score", "--input", home / "new.csv")
    assert status == 2
    assert "no champion" in err and "lead-scoring train" in err
    assert len(err.strip().splitlines()) == 1
    assert not (home / "new_scored.csv").exists() and not list(home.glob("*scored*"))  # nothing written
