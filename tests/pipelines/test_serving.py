"""The champion served: raw leads over HTTP get the batch's score, bucket, reasons and label."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lead_scoring.adapters.sources import read_raw_leads
from lead_scoring.lab.generate import generate_leads
from lead_scoring.schema import INTERACTION_COLUMNS, LEAD_ID, REFERRED_LEAD, TOTAL_LEADS_DROPPED
from tests.factories import prepare_and_train, write_csv

pytestmark = pytest.mark.slow
COUNTS = {TOTAL_LEADS_DROPPED, REFERRED_LEAD, *INTERACTION_COLUMNS}


@pytest.fixture(scope="module")
def served_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEAD_SCORING_HOME", str(home))
        prepare_and_train(home, generate_leads(6000, seed=21, start="2021-07-01", end="2021-11-30"))
    return home


@pytest.fixture
def served(served_home, monkeypatch):
    """The champion loaded as `mlflow models serve` loads it, and MLflow's own scoring app around it."""
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    from lead_scoring.settings import Settings

    monkeypatch.setenv("LEAD_SCORING_HOME", str(served_home))
    settings = Settings.from_env()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    mlflow.set_tracking_uri(settings.tracking_uri)

    def serve() -> TestClient:
        model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
        return TestClient(scoring_server.init(model))

    return serve


def crm_records(path: Path) -> list[dict[str, object]]:
    """The file's leads as a CRM posts them: counts as JSON numbers, blank fields left out."""
    records = []
    for row in read_raw_leads(path).to_dict("records"):
        record = {k: (float(v) if k in COUNTS else v) for k, v in row.items() if isinstance(v, str)}
        records.append(record)
    return records


def predictions(home: Path) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{home / 'lead_scoring.db'}")
    try:
        return pd.read_sql_table("predictions", engine).set_index(LEAD_ID)
    finally:
        engine.dispose()


def post(client, records: list[dict[str, object]]):
    return client.post("/invocations", content=json.dumps({"dataframe_records": records}),
                       headers={"Content-Type": "application/json"})  # fmt: skip


def test_a_served_lead_gets_the_batch_score_bucket_reasons_and_label(served_home, served, cli):
    leads = generate_leads(1500, seed=5, start="2021-12-01", end="2021-12-10", with_label=False)
    leads.insert(0, LEAD_ID, [f"crm-{i}" for i in range(len(leads))])
    path = write_csv(leads, served_home / "new_leads.csv")
    status, _, err = cli(
        "score", "--input", path, "--production"
    )  # 1,500 leads: the rank policy ranks the batch itself
    assert status == 0, err
    batch = predictions(served_home)

    client = served()  # loaded after the batch: it reads the batch's cut from the version's tag
    records = crm_records(path)
    singles = [post(client, [record]).json()["predictions"][0] for record in records[:25]]
    response = post(client, records)
    assert response.status_code == 200
    answers = pd.DataFrame(response.json()["predictions"]).set_index(LEAD_ID)
    assert pd.DataFrame(singles).set_index(LEAD_ID).equals(answers.head(25))  # alone or in a batch: the same
    assert answers.index.tolist() == leads[LEAD_ID].tolist()
    expected = batch.loc[answers.index]
    assert answers["score"].tolist() == expected["score"].tolist()
    assert answers["bucket"].tolist() == expected["bucket"].tolist()
    assert answers["top_reasons"].tolist() == expected["top_reasons"].tolist()
    assert answers["predicted_label"].tolist() == expected["predicted_label"].tolist()
    assert answers["error"].isna().all()


def test_the_served_label_uses_the_cut_the_latest_batch_tagged(served_home, served, cli):
    from lead_scoring.adapters.mlflow.registry import client, version_by_alias
    from lead_scoring.settings import Settings

    leads = generate_leads(300, seed=6, start="2021-12-01", end="2021-12-10", with_label=False)
    leads.insert(0, LEAD_ID, [f"crm-{i}" for i in range(len(leads))])
    path = write_csv(leads, served_home / "more_leads.csv")
    assert cli("score", "--input", path, "--production")[0] == 0
    settings = Settings.from_env()
    champion = version_by_alias(settings, "champion")
    batch = predictions(served_home).loc[leads[LEAD_ID]]
    cut = float(champion.tags["online_cut"])  # the batch flagged exactly the leads at or above it
    assert (batch["predicted_label"] == (batch["score"] >= cut)).all()

    middle = float(batch["score"].median())  # a cut no policy chose: the served labels must follow it
    client(settings).set_model_version_tag(settings.model_name, champion.version, "online_cut", repr(middle))
    answers = pd.DataFrame(post(served(), crm_records(path)).json()["predictions"])
    assert answers["predicted_label"].tolist() == (answers["score"] >= middle).astype(int).tolist()
    assert 0 < answers["predicted_label"].sum() < len(answers)


def test_a_bad_lead_gets_its_reason_the_others_their_scores_and_a_broken_request_a_400(served_home, served):
    client = served()
    good = {"lead_id": "ok", "created_date": "2021-12-02 10:00:00", "city_mapped": "mumbai", "referred_lead": 1.0}
    bad = {"lead_id": "bad", "created_date": "02/12/2021", "city_mapped": "pune"}
    response = post(client, [good, bad, {"city_mapped": "agra"}])
    assert response.status_code == 200
    answers = response.json()["predictions"]
    assert [a["error"] for a in answers][::2] == [None, None]
    assert answers[1]["error"].startswith("lead: column 'created_date': not YYYY-MM-DD")
    assert answers[1]["score"] is None  # null: JSON has no NaN
    assert "NaN" not in response.text
    assert 0.0 <= answers[0]["score"] <= 1.0 and answers[0]["bucket"] in {"hot", "warm", "cold"}
    assert answers[2]["lead_id"].startswith("L")  # derived, as the batch derives it

    # text where a number goes: that lead's error, as in a file; no longer a 400 for the whole request
    worded = post(client, [{"lead_id": "x", "referred_lead": "yes please"}, good])
    assert worded.status_code == 200
    assert [a["error"] for a in worded.json()["predictions"]] == [
        "lead: column 'referred_lead': not a number, e.g. 'yes please'",
        None,
    ]
    assert post(client, [{"lead_id": "x"}, "not a record"]).status_code == 400  # a broken request still is


def test_counts_as_json_strings_or_empty_strings_are_read_as_the_csv_reader_reads_them(served_home, served):
    """A CRM that quotes its numbers ("3"), leaves a count "" or sends an id as a number: each lead is
    read as the export's text would be, the same answer as the numbers (#29, item 7)."""
    client = served()
    leads = generate_leads(20, seed=4, start="2021-12-01", end="2021-12-02", with_label=False)
    numbers = [{**r, "lead_id": f"q-{i}"} for i, r in enumerate(crm_records(write_csv(leads, served_home / "q.csv")))]
    quoted = [{k: f"{v:g}" if k in COUNTS else v for k, v in r.items()} for r in numbers]
    blank = [{**r, REFERRED_LEAD: ""} for r in numbers]  # an empty cell, as a file has it
    missing = [{k: v for k, v in r.items() if k != REFERRED_LEAD} for r in numbers]

    def answers(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
        response = post(client, records)
        assert response.status_code == 200, response.text[:300]
        return [(a["lead_id"], a["score"], a["error"]) for a in response.json()["predictions"]]

    assert answers(quoted) == answers(numbers) and [a[2] for a in answers(quoted)] == [None] * 20
    assert answers(blank) == answers(missing)
    assert answers([{**numbers[0], "lead_id": 12345}])[0][0] == "12345"


def test_the_logged_model_carries_the_package_and_its_requirements(served_home, served):
    import mlflow

    from lead_scoring.settings import Settings

    served()
    settings = Settings.from_env()
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{settings.model_name}@champion"))
    assert (local / "code" / "lead_scoring" / "core" / "online.py").is_file()
    requirements = (local / "requirements.txt").read_text()
    assert "pandera==" in requirements and "lightgbm==" in requirements
    assert "online_cut" not in (local / "MLmodel").read_text()  # the cut is read at load, not frozen in


def test_the_scorer_asks_for_its_login_and_follows_the_champion_and_its_cut(served_home, served):
    import base64

    from fastapi.testclient import TestClient

    from lead_scoring.adapters.mlflow import registry
    from lead_scoring.adapters.mlflow.serving import ChampionApp
    from lead_scoring.settings import Settings

    served()  # the environment of the other tests
    settings = Settings.from_env()
    app = ChampionApp(settings, "crm", "s3cret", refresh=3600)
    client = TestClient(app)
    assert client.get("/health").status_code == 503  # nothing loaded yet
    assert app.follow() and not app.follow()  # loaded once; nothing moved since
    first = registry.version_by_alias(settings, "champion")
    assert client.get("/health").json()["version"] == first.version
    lead = {"dataframe_records": [{"lead_id": "x", "city_mapped": "mumbai"}]}
    assert client.post("/invocations", json=lead).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"crm:guess").decode()}
    assert client.post("/invocations", json=lead, headers=wrong).status_code == 401
    login = {"Authorization": "Basic " + base64.b64encode(b"crm:s3cret").decode()}
    answer = client.post("/invocations", json=lead, headers=login)
    assert answer.status_code == 200 and answer.json()["predictions"][0]["lead_id"] == "x"

    registry.set_version_tags(settings, first.version, {"online_cut": "0.999"})
    assert app.follow() and app.served.cut == "0.999"  # a refreshed cut is loaded too
    model_uri = registry.client(settings).get_run(first.run_id).data.tags["model_uri"]
    second = registry.register(settings, model_uri, {})
    registry.move_champion(settings, second, reason="test: the scorer follows")
    assert app.follow()
    assert client.get("/health").json()["version"] == second != first.version
    assert client.post("/invocations", json=lead, headers=login).json()["predictions"][0]["predicted_label"] in (0, 1)
