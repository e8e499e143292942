"""The fitted scorer: scores and reasons once per distinct lead, spread back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.core.features import FEATURES
from lead_scoring.core.fitting import LIGHTGBM_PARAMS, fit_scorer
from lead_scoring.core.model import describe_features, distinct_rows, top_reasons
from lead_scoring.core.validation import validate_raw_leads
from lead_scoring.pipelines.data import transform_leads
from lead_scoring.schema import LABEL
from tests.factories import as_text, raw_leads


def test_scoring_distinct_leads_once_changes_nothing(settings):
    validated, _ = validate_raw_leads(as_text(raw_leads(400)), "test")
    frame = transform_leads(validated, load_mappings(settings))["model_input"]
    rng = np.random.default_rng(0)
    frame[LABEL] = rng.integers(0, 2, len(frame))
    scorer = fit_scorer(frame, {**LIGHTGBM_PARAMS, "n_estimators": 20, "min_child_samples": 5}, min_level_count=5)
    batch = frame.drop(columns=[LABEL]).sample(frac=1.0, random_state=3)
    batch = pd.concat([batch, batch.iloc[:50]])  # repeated leads
    batch.loc[batch.index[:3], "syllabus_interaction"] = np.nan  # missing values stay distinct from zero

    out = scorer.predict_frame(batch)

    features = scorer.features.transform(batch)
    expected_scores = scorer.booster.predict_proba(features)[:, 1]
    contributions = scorer.booster.booster_.predict(features, pred_contrib=True)[:, : len(FEATURES)]
    expected_reasons = top_reasons(contributions, describe_features(features))
    assert len(distinct_rows(features)[0]) == len(batch) - 50  # the repeats are scored once
    assert out.index.equals(batch.index)
    np.testing.assert_allclose(out["score"].to_numpy(), expected_scores, rtol=0, atol=1e-12)
    assert out["predicted_label"].tolist() == (expected_scores >= 0.5).astype(int).tolist()  # a bare fit: 0.5
    assert out["top_reasons"].tolist() == expected_reasons.tolist()


def test_distinct_rows_finds_each_distinct_lead_once():
    features = pd.DataFrame(
        {
            "x": [1.0, 1.0, np.nan, np.nan, 2.0, 1.0],
            "c": pd.Categorical(["a", "a", "a", "a", "b", "b"]),
        }
    )
    distinct, positions = distinct_rows(features)
    assert len(distinct) == 4
    assert distinct.index.tolist() == [0, 2, 4, 5]  # the first of each
    pd.testing.assert_frame_equal(distinct.iloc[positions].reset_index(drop=True), features)


def test_a_scorer_pickled_before_policies_keeps_flagging_at_its_threshold():
    import pickle

    from lead_scoring.core.model import LeadScorer
    from lead_scoring.core.policy import DecisionPolicy

    legacy = LeadScorer.__new__(LeadScorer)
    legacy.__setstate__({"features": None, "booster": None, "threshold": 0.42})  # what older versions pickled
    assert legacy.policy.kind == "validation" and legacy.policy.cut == 0.42
    assert legacy.labels(np.array([0.41, 0.42, 0.9])).tolist() == [0, 1, 1]

    current = LeadScorer(features=None, booster=None, policy=DecisionPolicy("rank", cut=0.3, share=0.25, min_pool=4))
    restored = pickle.loads(pickle.dumps(current))
    assert restored.policy == current.policy
    assert restored.labels(np.array([0.1, 0.2, 0.3, 0.4])).tolist() == [0, 0, 0, 1]  # the top quarter


def test_two_rows_sharing_a_hash_are_not_merged(monkeypatch):
    """A 64-bit hash collision would give two leads one score: the check sees it and keeps every row."""
    features = pd.DataFrame({"x": [1.0, 2.0, 1.0], "c": pd.Categorical(["a", "b", "a"])})
    monkeypatch.setattr(pd.util, "hash_pandas_object", lambda frame, index: pd.Series(np.zeros(len(frame), "uint64")))
    distinct, positions = distinct_rows(features)
    assert distinct.index.tolist() == [0, 1, 2]
    assert positions.tolist() == [0, 1, 2]


def test_a_bare_fit_and_a_legacy_pickle_holding_a_policy_restore_as_they_were():
    import pickle

    from lead_scoring.core.model import LeadScorer
    from lead_scoring.core.policy import DecisionPolicy

    bare = pickle.loads(pickle.dumps(LeadScorer(features=None, booster=None)))
    assert bare.policy is None and "threshold" not in bare.__dict__
    both = LeadScorer.__new__(LeadScorer)
    policy = DecisionPolicy("rank", cut=0.3, share=0.25)
    both.__setstate__({"features": None, "booster": None, "threshold": 0.42, "policy": policy})
    assert both.policy is policy and "threshold" not in both.__dict__
    legacy = LeadScorer.__new__(LeadScorer)
    legacy.__setstate__({"features": None, "booster": None, "threshold": 0.42})
    assert np.isnan(legacy.policy.share)  # what it flags on new leads is unknown: no share alarm


def test_predict_frame_gives_the_asked_number_of_reasons_and_the_same_columns_for_no_leads(settings):
    validated, _ = validate_raw_leads(as_text(raw_leads(200)), "test")
    frame = transform_leads(validated, load_mappings(settings))["model_input"]
    frame[LABEL] = (frame["syllabus_interaction"].fillna(0) > 0).astype(int)
    scorer = fit_scorer(frame, {**LIGHTGBM_PARAMS, "n_estimators": 5, "min_child_samples": 5}, min_level_count=5)
    batch = frame.drop(columns=[LABEL])
    assert {text.count(";") for text in scorer.predict_frame(batch.head(20))["top_reasons"]} == {2}  # three
    assert {text.count(";") for text in scorer.predict_frame(batch.head(20), reasons=1)["top_reasons"]} == {0}
    flags = scorer.labels(np.array([0.2, 0.5, 0.9]))  # a bare fit flags at 0.5
    assert flags.dtype == np.int64
    assert flags.tolist() == [0, 1, 1]
    empty = scorer.predict_frame(batch.head(0))
    assert list(empty.columns) == ["score", "predicted_label", "top_reasons"]
    assert empty.empty


def test_importance_is_the_gain_of_each_model_feature(settings):
    validated, _ = validate_raw_leads(as_text(raw_leads(200)), "test")
    frame = transform_leads(validated, load_mappings(settings))["model_input"]
    frame[LABEL] = (frame["syllabus_interaction"].fillna(0) > 0).astype(int)  # one feature decides
    scorer = fit_scorer(frame, {**LIGHTGBM_PARAMS, "n_estimators": 5, "min_child_samples": 5}, min_level_count=5)
    gain = scorer.importance()
    assert list(gain) == list(FEATURES)
    assert max(gain, key=gain.get) == "syllabus_interaction"
    splits = scorer.booster.booster_.feature_importance("split")
    assert gain["syllabus_interaction"] != splits[list(FEATURES).index("syllabus_interaction")]  # gain, not splits


def test_reasons_are_python_strings_ranked_by_size_whatever_the_sign():
    words = pd.DataFrame({"a": ["A1", "A2"], "b": ["B1", "B2"], "c": ["C1", "C2"]})
    contributions = np.array([[0.1, -0.5, 0.3], [-0.2, 0.2, 0.0]])
    reasons = top_reasons(contributions, words, count=2)
    assert reasons.dtype == object
    assert reasons.tolist() == ["B1 (-); C1 (+)", "A2 (-); B2 (+)"]  # a tie keeps the features' order
