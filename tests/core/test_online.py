"""Raw leads in, one answer per lead out: the served model's path (lead_scoring.core.online)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lead_scoring.adapters.mapping_files import load_mappings
from lead_scoring.core.fitting import LIGHTGBM_PARAMS, fit_scorer
from lead_scoring.core.online import ANSWER_COLUMNS, NO_LABEL, OnlineScorer
from lead_scoring.core.policy import DecisionPolicy
from lead_scoring.core.recipes import PLAIN, Recipe
from lead_scoring.core.scoring import assign_buckets
from lead_scoring.core.validation import validate_raw_leads
from lead_scoring.pipelines.data import transform_leads
from lead_scoring.schema import LABEL, LEAD_ID
from tests.factories import as_text, raw_leads

NOW = pd.Timestamp("2021-12-01 09:30:00")


ENCODED = Recipe("encoded, no raw city", target=True, frequency=True, raw_city=False, half_life_days=10.0)


@pytest.fixture(params=[PLAIN, ENCODED], ids=lambda recipe: recipe.name)
def online(settings, request) -> OnlineScorer:
    validated, _ = validate_raw_leads(as_text(raw_leads(300)), "test")
    frame = transform_leads(validated, load_mappings(settings))["model_input"]
    frame[LABEL] = (frame["syllabus_interaction"].fillna(0) > 0).astype(int)
    scorer = fit_scorer(
        frame, {**LIGHTGBM_PARAMS, "n_estimators": 10, "min_child_samples": 5}, min_level_count=5, recipe=request.param
    )
    scorer.policy = DecisionPolicy("rank", cut=0.5, share=0.3)
    return OnlineScorer(scorer, load_mappings(settings), hot_cutoff=0.7, warm_cutoff=0.4)


def leads(rows: int) -> pd.DataFrame:
    frame = as_text(raw_leads(rows, with_label=False))
    frame.insert(0, LEAD_ID, [f"id-{i}" for i in range(rows)])
    return frame


def batch_answer(online: OnlineScorer, raw: pd.DataFrame, settings) -> pd.DataFrame:
    """What the batch path gives the same leads: validate, the data steps, the scorer, the buckets."""
    validated, _ = validate_raw_leads(raw, "batch", use_label=False)
    model_input = transform_leads(validated, load_mappings(settings))["model_input"]
    out = online.scorer.predict_frame(model_input)
    out[LEAD_ID] = model_input[LEAD_ID].to_numpy()
    out["bucket"] = assign_buckets(out["score"], 0.7, 0.4)
    return out.set_index(LEAD_ID)


def test_raw_leads_get_the_batch_score_bucket_and_reasons_in_their_own_order(online, settings):
    raw = leads(40)
    answer = online.answer(raw.iloc[::-1].reset_index(drop=True), cut=0.35, now=NOW)
    expected = batch_answer(online, raw, settings).loc[answer[LEAD_ID]]
    assert list(answer.columns) == list(ANSWER_COLUMNS)
    assert answer[LEAD_ID].tolist() == [f"id-{i}" for i in range(39, -1, -1)]
    np.testing.assert_array_equal(answer["score"].to_numpy(), expected["score"].to_numpy())
    assert answer["bucket"].tolist() == expected["bucket"].tolist()
    assert answer["top_reasons"].tolist() == expected["top_reasons"].tolist()
    assert answer["predicted_label"].tolist() == (expected["score"] >= 0.35).astype(int).tolist()  # the given cut
    assert answer["error"].isna().all()


def test_each_lead_sent_alone_gets_the_batch_answer(online, settings):
    """The served path's usual request, one lead with its id (validated without row hashes: it can
    have no copy and needs no derived id), gives exactly what the batch gives that lead."""
    raw = leads(12)
    raw.loc[3, "city_mapped"] = None  # a missing city and a missing count alone in their request
    raw.loc[5, "total_leads_droppped"] = None
    expected = batch_answer(online, raw, settings)
    answers = pd.concat([online.answer(raw.iloc[[i]], cut=0.35, now=NOW) for i in range(12)], ignore_index=True)
    assert answers[LEAD_ID].tolist() == [f"id-{i}" for i in range(12)] and answers["error"].isna().all()
    np.testing.assert_array_equal(answers["score"].to_numpy(), expected.loc[answers[LEAD_ID], "score"].to_numpy())
    assert answers["top_reasons"].tolist() == expected.loc[answers[LEAD_ID], "top_reasons"].tolist()
    assert answers["bucket"].tolist() == expected.loc[answers[LEAD_ID], "bucket"].tolist()


def test_without_a_cut_the_policys_reference_cut_labels_never_a_rank_within_the_request(online):
    answer = online.answer(leads(1200), now=NOW)  # more than min_pool: a batch would rank these among themselves
    assert answer["predicted_label"].tolist() == (answer["score"] >= 0.5).astype(int).tolist()


def test_one_bad_lead_gets_its_reason_and_the_others_are_scored(online, settings):
    raw = leads(5)
    raw.loc[2, "referred_lead"] = "7"
    raw.loc[4, "total_leads_droppped"] = "lots"
    answer = online.answer(raw, cut=0.5, now=NOW)
    assert answer["error"].tolist() == [
        None,
        None,
        "lead: column 'referred_lead': not 0 or 1, e.g. '7'",
        None,
        "lead: column 'total_leads_droppped': not a number, e.g. 'lots'",
    ]
    bad = answer.iloc[[2, 4]]
    assert bad["score"].isna().all() and bad["bucket"].isna().all() and bad["top_reasons"].isna().all()
    assert bad["predicted_label"].tolist() == [NO_LABEL, NO_LABEL]
    expected = batch_answer(online, raw.iloc[[0, 1, 3]], settings)
    good = answer.iloc[[0, 1, 3]].set_index(LEAD_ID)
    np.testing.assert_array_equal(good["score"].to_numpy(), expected.loc[good.index, "score"].to_numpy())


def test_two_different_leads_under_one_id_are_both_refused_and_exact_copies_share_an_answer(online):
    raw = leads(4)
    raw.loc[1, LEAD_ID] = "id-0"  # a different lead under id-0
    copy = raw.iloc[[3]].copy()
    answer = online.answer(pd.concat([raw, copy], ignore_index=True), cut=0.5, now=NOW)
    message = "lead: column 'lead_id': another lead in the request has this id"
    assert answer["error"].tolist() == [message, message, None, None, None]
    assert answer.loc[4, "score"] == answer.loc[3, "score"] and not np.isnan(answer.loc[4, "score"])


def test_missing_columns_nulls_numbers_and_a_label_are_taken(online, settings):
    """Only three columns, JSON-like numbers, a label (ignored): scored as the text export with blanks."""
    sparse = pd.DataFrame(
        {
            LEAD_ID: ["a", "b"],
            "city_mapped": ["mumbai", None],
            "referred_lead": [1, np.nan],
            "view_programs_page": [3.0, None],
            LABEL: [1, 0],
        }
    )
    answer = online.answer(sparse, cut=0.5, now=NOW)
    assert answer["error"].isna().all()
    full = leads(2).iloc[:0].reindex(range(2))  # every raw column, all blank
    full[LEAD_ID] = ["a", "b"]
    full["created_date"] = "2021-12-01 09:30:00"  # a lead without a date was created now
    full.loc[0, ["city_mapped", "referred_lead", "view_programs_page"]] = ["mumbai", "1", "3.0"]
    expected = batch_answer(online, full, settings)
    np.testing.assert_array_equal(answer["score"].to_numpy(), expected.loc[["a", "b"], "score"].to_numpy())


def test_a_lead_without_an_id_gets_the_id_the_batch_derives(online):
    raw = leads(3).drop(columns=[LEAD_ID])
    validated, _ = validate_raw_leads(raw, "batch", use_label=False)
    assert online.answer(raw, cut=0.5, now=NOW)[LEAD_ID].tolist() == validated[LEAD_ID].tolist()


def test_a_request_of_only_bad_leads_answers_each(online):
    raw = leads(2)
    raw["created_date"] = ["yesterday", "2021-13-45"]
    answer = online.answer(raw, cut=0.5, now=NOW)
    assert answer["error"].str.contains("column 'created_date': not a date-time").all()
    assert answer["score"].isna().all()


def test_few_rows_get_lightgbms_own_contributions_many_the_per_tree_ones(online, settings, monkeypatch):
    from lead_scoring.core import explain

    validated, _ = validate_raw_leads(leads(30), "batch", use_label=False)
    features = online.scorer.features.transform(transform_leads(validated, load_mappings(settings))["model_input"])
    booster = online.scorer.booster.booster_
    whole = booster.predict(explain._lightgbm_matrix(booster, features), pred_contrib=True)
    np.testing.assert_array_equal(explain.contributions_for(booster, features), whole)
    monkeypatch.setattr(explain, "DIRECT_ROWS", 29)  # 30 rows: past it
    per_tree = explain.contributions(booster, features)
    np.testing.assert_array_equal(explain.contributions_for(booster, features), per_tree)
    np.testing.assert_allclose(per_tree, whole, rtol=0, atol=1e-12)


# -- hostile batches (#29, item 7): one validation of the request, never one per lead ------------------


def test_one_bad_lead_in_a_big_request_is_validated_with_the_request_not_lead_by_lead(online, settings, monkeypatch):
    """Each lead was validated alone once the request failed: 1,000 schema passes, 70x the clean
    request. The request is validated in one call now; the schema checks the whole request, then
    (because it refused a lead) the rest once: two passes, whatever the size."""
    from lead_scoring.core import online as online_module
    from lead_scoring.core import validation

    raw = leads(1000)
    raw.loc[500, "referred_lead"] = "7"
    calls = {"request": 0, "schema": 0}
    each, schema = validation.validate_each_lead, validation._raw_schema

    def counted_each(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["request"] += 1
        return each(*args, **kwargs)

    def counted_schema(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["schema"] += 1
        return schema(*args, **kwargs)

    monkeypatch.setattr(online_module, "validate_each_lead", counted_each)
    monkeypatch.setattr(validation, "_raw_schema", counted_schema)
    answer = online.answer(raw, cut=0.5, now=NOW)
    assert calls == {"request": 1, "schema": 2}
    assert answer["error"].notna().tolist() == [i == 500 for i in range(1000)]
    assert answer.loc[500, "error"] == "lead: column 'referred_lead': not 0 or 1, e.g. '7'"
    expected = batch_answer(online, raw.drop(index=500), settings)
    good = answer.drop(index=500).set_index(LEAD_ID)
    np.testing.assert_array_equal(good["score"].to_numpy(), expected.loc[good.index, "score"].to_numpy())


def test_a_value_that_does_not_parse_hides_no_other_lead_of_its_column(online):
    """'lots' fails the number parse of its column, which skips the column's other checks in that pass:
    the negative count of another lead is still found (in the pass over the rest)."""
    raw = leads(6)
    raw.loc[1, "total_leads_droppped"] = "lots"
    raw.loc[4, "total_leads_droppped"] = "-3"
    answer = online.answer(raw, cut=0.5, now=NOW)
    assert answer["error"].tolist() == [
        None,
        "lead: column 'total_leads_droppped': not a number, e.g. 'lots'",
        None,
        None,
        "lead: column 'total_leads_droppped': negative, e.g. '-3'",
        None,
    ]


def test_exact_copies_of_a_bad_lead_get_its_reason(online):
    raw = leads(3)
    raw.loc[1, "referred_lead"] = "2"
    answer = online.answer(pd.concat([raw, raw.iloc[[1]]], ignore_index=True), cut=0.5, now=NOW)
    reason = "lead: column 'referred_lead': not 0 or 1, e.g. '2'"
    assert answer["error"].tolist() == [None, reason, None, reason]


def test_the_other_leads_of_a_column_that_did_not_parse_are_judged_on_their_values(online):
    """'yes please' leaves referred_lead as text in the first pass: '1.0' is not in [0, 1] as text."""
    raw = leads(3)
    raw["referred_lead"] = ["yes please", "1.0", "0"]
    answer = online.answer(raw, cut=0.5, now=NOW)
    assert answer["error"].tolist() == ["lead: column 'referred_lead': not a number, e.g. 'yes please'", None, None]
