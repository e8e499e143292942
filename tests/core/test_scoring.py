"""Unit tests of the pure scoring helpers."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.core.evidence import unusual_inputs
from lead_scoring.core.scoring import PREDICTION_COLUMNS, assign_buckets, build_predictions


def test_buckets_follow_the_cutoffs():
    scores = pd.Series([0.95, 0.7, 0.69, 0.4, 0.39, 0.0])
    assert assign_buckets(scores, hot_cutoff=0.7, warm_cutoff=0.4).tolist() == [
        "hot",
        "hot",
        "warm",
        "warm",
        "cold",
        "cold",
    ]


def test_bucket_cutoffs_must_be_ordered():
    with pytest.raises(ValueError, match="warm"):
        assign_buckets(pd.Series([0.5]), hot_cutoff=0.3, warm_cutoff=0.6)


def predictions_of(lead_ids: pd.Series, output: pd.DataFrame) -> pd.DataFrame:
    return build_predictions(
        lead_ids,
        output,
        model_name="lead_scoring",
        model_version="3",
        scored_at=datetime(2021, 12, 2, 6, 0),
        hot_cutoff=0.7,
        warm_cutoff=0.4,
    )


def test_predictions_are_hottest_first_with_every_column():
    output = pd.DataFrame({"score": [0.2, 0.9, 0.5], "predicted_label": [0, 1, 1], "top_reasons": ["a", "b", "c"]})
    frame = predictions_of(pd.Series(["x", "y", "z"]), output)
    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert frame["lead_id"].tolist() == ["y", "z", "x"]
    assert frame["bucket"].tolist() == ["hot", "warm", "cold"]
    assert frame["top_reasons"].tolist() == ["b", "c", "a"]
    assert set(frame["model_version"]) == {"3"}


def test_equal_scores_are_ordered_by_lead_id():
    output = pd.DataFrame({"score": [0.5, 0.9, 0.5, 0.5], "predicted_label": [1, 1, 1, 1], "top_reasons": list("abcd")})
    frame = predictions_of(pd.Series(["L3", "L9", "L1", "L2"], index=[10, 11, 12, 13]), output)
    assert frame["lead_id"].tolist() == ["L9", "L1", "L2", "L3"]
    assert frame["top_reasons"].tolist() == ["b", "c", "d", "a"]  # each lead keeps its own row
    assert frame.index.tolist() == [0, 1, 2, 3]


def test_unusual_inputs_are_counted():
    model_input = pd.DataFrame(
        {
            "first_platform_c": ["Level0", "Level77", None],
            "city_mapped": ["mumbai", None, "atlantis"],
            "assistance_interaction": [0.0, 2.0, 0.0],
            "syllabus_interaction": [0.0, 0.0, 0.0],
        }
    )
    counts = unusual_inputs(model_input, {"first_platform_c": {"Level0"}, "city_mapped": {"mumbai"}})
    assert counts == {
        "unseen_first_platform_c": 1,
        "unseen_city_mapped": 1,
        "missing_city": 1,
        "no_interactions": 2,
    }


def test_a_rank_policy_ranks_a_small_batch_among_the_versions_production_scores(settings):
    """Five leads alone use the reference cut; pooled with the version's production scores of leads
    created before the batch, the top half of the pool is flagged; another version's predictions,
    rows not in production, a shadow's rows and leads created later are not in the pool."""
    from types import SimpleNamespace

    from lead_scoring.adapters.scoring_runs import production_pool
    from lead_scoring.adapters.staging import StagingDatabase
    from lead_scoring.core.model import LeadScorer
    from lead_scoring.core.policy import DecisionPolicy
    from lead_scoring.pipelines.scoring import predict

    scorer = LeadScorer(features=None, booster=None, policy=DecisionPolicy("rank", cut=0.95, share=0.5, min_pool=8))
    batch_scores = [0.15, 0.35, 0.55, 0.75, 0.9]
    # predict() asks the scorer itself (the registered pyfunc takes raw leads)
    scorer.predict_frame = lambda frame: pd.DataFrame({"score": batch_scores, "predicted_label": 0, "top_reasons": "r"})

    class Model:
        def predict(self, frame):  # noqa: ANN001, ANN202
            return pd.DataFrame({"score": batch_scores, "predicted_label": 0, "top_reasons": "r"})

        def unwrap_python_model(self):  # noqa: ANN202
            return SimpleNamespace(scorer=scorer)

    from lead_scoring.adapters.mlflow.registry import ScoringModel

    champion = ScoringModel("lead_scoring", "7", "run", Model(), None, {})
    stored = pd.DataFrame(
        {
            "lead_id": [f"S{i}" for i in range(10)],
            "score": [0.1, 0.2, 0.3, 0.4, 0.6, 0.99, 0.98, 0.97, 0.96, 0.95],
            "model_name": "lead_scoring",
            "model_version": ["7", "7", "7", "7", "7", "6", "7", "7", "7", "7"],
            "scored_at": pd.to_datetime(["2021-12-01 10:00"] * 10),
            "role": ["champion"] * 8 + ["shadow", "champion"],
            "production": [1, 1, 1, 1, 1, 1, 1, 0, 1, 1],
            "created_date": pd.to_datetime(["2021-11-30 09:00"] * 6 + ["2021-12-01 00:00"] + ["2021-11-30 09:00"] * 3),
        }
    )
    before = pd.Timestamp("2021-12-01")
    with StagingDatabase(settings.db_url) as db:
        assert production_pool(db, "lead_scoring", "7", before, 10).size == 0  # no predictions table yet
        db.merge_rows("t", "predictions", stored.iloc[:, :5], keys=["lead_id", "model_name", "model_version"])
        assert production_pool(db, "lead_scoring", "7", before, 10).size == 0  # a table from before the flags
        with db.engine.begin() as conn:  # as the release before the pool columns left it
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    with StagingDatabase(settings.db_url) as db:  # opening it upgrades it: revision 0002 adds the columns
        db.merge_rows("t", "predictions", stored, keys=["lead_id", "model_name", "model_version"])
        recent = production_pool(db, "lead_scoring", "7", before, 10)
        # version 7, champion, production, created before the batch (S6 is created at the batch's start)
        assert sorted(recent.tolist()) == [0.1, 0.2, 0.3, 0.4, 0.6, 0.95]
        assert production_pool(db, "lead_scoring", "7", before, 2).size == 2

    leads = pd.DataFrame({"lead_id": [f"B{i}" for i in range(5)]})
    alone = predict(settings, champion, leads)
    assert alone.sort_values("score")["predicted_label"].tolist() == [0, 0, 0, 0, 0]  # reference cut 0.95
    pooled = predict(settings, champion, leads, recent)
    # pool of 11: 0.1 .. 0.95; its median, the cut, is 0.4 (the 6th of 11)
    assert pooled.sort_values("score")["predicted_label"].tolist() == [0, 0, 1, 1, 1]


def test_scoring_runs_are_named_after_their_day_or_their_file():
    from lead_scoring.core.scoring import scoring_run_name

    assert scoring_run_name("interval:2021-12-01T00:00:00", "landing", 300) == "score 2021-12-01"
    assert scoring_run_name("file:0123abcd", "demo/new_leads.csv", 2000) == "score new_leads.csv · 2,000 leads"


def test_the_cutoffs_may_sit_on_their_limits():
    # warm at 0: nothing is cold; hot at 1: only a perfect score is hot; warm == hot: no warm bucket
    scores = pd.Series([0.0, 0.5, 1.0], index=[7, 8, 9])
    buckets = assign_buckets(scores, hot_cutoff=1.0, warm_cutoff=0.0)
    assert buckets.tolist() == ["warm", "warm", "hot"]
    assert buckets.index.tolist() == [7, 8, 9]  # aligned with the scores it was given
    assert assign_buckets(pd.Series([0.5, 0.49]), hot_cutoff=0.5, warm_cutoff=0.5).tolist() == ["hot", "cold"]
    for hot, warm in ((1.5, 0.4), (0.7, -0.1), (0.4, 0.7)):
        with pytest.raises(ValueError, match="bucket cut-offs"):
            assign_buckets(pd.Series([0.5]), hot_cutoff=hot, warm_cutoff=warm)


def test_the_predictions_frame_has_the_tables_types():
    output = pd.DataFrame({"score": [0.25, 0.75], "predicted_label": [0.0, 1.0], "top_reasons": ["a", "b"]})
    frame = predictions_of(pd.Series([101, 102]), output)
    assert frame["lead_id"].tolist() == ["102", "101"]
    assert frame["predicted_label"].dtype == "int64" and frame["predicted_label"].tolist() == [1, 0]
    assert frame["score"].tolist() == [0.75, 0.25] and frame["bucket"].tolist() == ["hot", "cold"]
    assert frame["scored_at"].tolist() == [pd.Timestamp("2021-12-02 06:00")] * 2
    assert frame["model_name"].tolist() == ["lead_scoring"] * 2


def test_a_file_run_is_named_after_the_files_own_name():
    from lead_scoring.core.scoring import scoring_run_name

    assert scoring_run_name("file:1", "exports/2021/new_leads.csv", 5) == "score new_leads.csv · 5 leads"
    assert scoring_run_name("file:1", "new_leads.csv", 1_234_567) == "score new_leads.csv · 1,234,567 leads"
    assert scoring_run_name("file:1", "exports/LEADS_BOX/", 5) == "score LEADS_BOX · 5 leads"  # a folder
    assert scoring_run_name("file:1", "C:\\drop\\new_leads.csv", 5) == "score new_leads.csv · 5 leads"


def test_unseen_levels_and_leads_without_interactions_are_counted_exactly():
    nan = float("nan")
    model_input = pd.DataFrame(
        {
            "first_platform_c": ["Level0", "Level77", "Level78", None],
            "city_mapped": ["mumbai", "mumbai", "atlantis", None],
            "assistance_interaction": [nan, 1.0, 0.0, nan],  # all missing counts as no interaction
            "syllabus_interaction": [nan, 0.0, 0.0, 2.0],
        }
    )
    counts = unusual_inputs(model_input, {"first_platform_c": {"Level0"}, "city_mapped": {"mumbai"}})
    assert counts == {
        "unseen_first_platform_c": 2,
        "unseen_city_mapped": 1,
        "missing_city": 1,
        "no_interactions": 2,  # rows 0 and 2
    }
