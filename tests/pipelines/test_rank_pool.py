"""A batch is ranked against the production stream of its version, point in time: the leads created
before its interval (or its oldest lead), never its own earlier rows, never later days, never an
ad-hoc file. A stand-in model scores each lead ``total_leads_droppped / 100`` and flags the top half
of the pool, so every expected flag below is counted by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lead_scoring.adapters.mlflow.registry import ScoringModel
from lead_scoring.adapters.staging import StagingDatabase
from lead_scoring.core.model import LeadScorer
from lead_scoring.core.policy import DecisionPolicy
from lead_scoring.pipelines import inference, scoring
from tests.factories import raw_leads, write_csv

# flag the top half of the pool once 4 leads are pooled; below that, a reference cut of 0.95
POLICY = DecisionPolicy("rank", cut=0.95, share=0.5, min_pool=4)


class _Model:
    """A registered version whose scorer scores each lead total_leads_droppped / 100 (the batch
    scores with the scorer itself, not through the pyfunc's raw-lead interface)."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        scores = frame["total_leads_droppped"].astype(float).to_numpy() / 100.0
        return pd.DataFrame({"score": scores, "predicted_label": 0, "top_reasons": "r"})

    def unwrap_python_model(self) -> SimpleNamespace:
        return SimpleNamespace(scorer=_Scorer(features=None, booster=None, policy=POLICY, stand_in=self))


class _Scorer(LeadScorer):
    def __init__(self, *, stand_in: _Model, **fields: object) -> None:
        super().__init__(**fields)  # type: ignore[arg-type]
        self.stand_in = stand_in

    def predict_frame(self, model_input: pd.DataFrame, reasons: int = 3) -> pd.DataFrame:
        return self.stand_in.predict(model_input)


CHAMPION = ScoringModel("lead_scoring", "3", "run", _Model(), None, {})


@pytest.fixture
def stand_in(settings, monkeypatch):
    monkeypatch.setattr(inference, "load_model", lambda *_a, **_k: CHAMPION)
    monkeypatch.setattr(scoring, "load_model", lambda *_a, **_k: CHAMPION)
    monkeypatch.setattr(inference, "shadow_model", lambda *_a: None, raising=False)
    monkeypatch.setattr(inference, "publish_online_cut", lambda *_a: None)  # no registry here
    monkeypatch.setattr(scoring, "publish_online_cut", lambda *_a: None)
    monkeypatch.setattr("lead_scoring.adapters.scoring_runs.log_scoring_run", lambda *_a: None)
    return settings


def leads(day: str, counts: list[int]) -> pd.DataFrame:
    """One raw lead per count, created on ``day`` one minute apart (distinct rows, distinct ids)."""
    frame = raw_leads(len(counts), with_label=False)
    frame["created_date"] = [f"{day} 10:{i:02d}:00" for i in range(len(counts))]
    frame["total_leads_droppped"] = [float(c) for c in counts]
    return frame


def run_day(settings, day: str, counts: list[int]) -> dict[int, int]:
    """The daily DAG's scoring steps for ``day``; returns each lead's flag by its score x 100."""
    write_csv(leads(day, counts), settings.landing_dir / f"leads_{day}.csv")
    start = f"{day}T00:00:00+00:00"
    end = (pd.Timestamp(day) + pd.Timedelta(days=1)).strftime("%Y-%m-%dT00:00:00+00:00")
    inference.validate_step(settings, start, end)
    inference.transform_step(settings, start)
    inference.score_step(settings, start)
    inference.write_step(settings, start)
    inference.outbox_step(settings, start)
    inference.discard_step(settings, start)
    return flags_of(settings, day)


def flags_of(settings, day: str) -> dict[int, int]:
    with StagingDatabase(settings.db_url) as db:
        rows = db.query("SELECT score, predicted_label, scored_at FROM predictions")
    day_rows = rows[rows["score"].round(2).isin(DAYS[day])]
    return {round(s * 100): int(f) for s, f in zip(day_rows["score"], day_rows["predicted_label"], strict=True)}


DAYS = {  # each day's counts, i.e. its scores x 100 (no score on two days)
    "2021-12-01": [10, 12, 14, 16, 18, 20],
    "2021-12-02": [60, 62, 64, 66, 68, 70],
    "2021-12-03": [80, 82, 84, 86, 88, 90],
}
DAYS = {day: [c / 100 for c in counts] for day, counts in DAYS.items()}


def counts(day: str) -> list[int]:
    return [round(s * 100) for s in DAYS[day]]


def test_a_rerun_of_a_day_gives_identical_flags(stand_in):
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    first = run_day(stand_in, "2021-12-02", counts("2021-12-02"))
    # pooled with the 6 leads of the day before, every lead of the day is in the top half
    assert first == {60: 1, 62: 1, 64: 1, 66: 1, 68: 1, 70: 1}
    assert run_day(stand_in, "2021-12-02", counts("2021-12-02")) == first  # not ranked against its own rows


def test_an_ad_hoc_file_scored_between_two_days_changes_no_later_flags(stand_in, tmp_path):
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    # 12 hot leads created on the evening of the first day, scored by hand before the second day runs
    hot = leads("2021-12-01", list(range(71, 83)))
    hot["created_date"] = [f"2021-12-01 20:{i:02d}:00" for i in range(len(hot))]
    scoring.score_file(stand_in, write_csv(hot, tmp_path / "ad_hoc.csv"))
    # without the file: 6 leads of day one + 6 of day two, the top half is day two whole
    assert run_day(stand_in, "2021-12-02", counts("2021-12-02")) == {60: 1, 62: 1, 64: 1, 66: 1, 68: 1, 70: 1}


def test_a_backfill_of_an_old_day_is_not_ranked_against_later_days(stand_in):
    run_day(stand_in, "2021-12-02", counts("2021-12-02"))
    run_day(stand_in, "2021-12-03", counts("2021-12-03"))
    # day one backfilled last: nothing was created before it, so its 6 leads are ranked among
    # themselves (6 >= 4 pooled): the top half, 16, 18 and 20, are flagged, as on the day itself
    assert run_day(stand_in, "2021-12-01", counts("2021-12-01")) == {10: 0, 12: 0, 14: 0, 16: 1, 18: 1, 20: 1}


def test_a_file_marked_production_joins_the_stream_and_an_ad_hoc_one_does_not(stand_in, tmp_path):
    day_one = leads("2021-12-01", counts("2021-12-01"))
    scoring.score_file(stand_in, write_csv(day_one, tmp_path / "day_one.csv"))  # ad hoc
    with StagingDatabase(stand_in.db_url) as db:
        assert db.query("SELECT DISTINCT production, role FROM predictions").values.tolist() == [[0, "champion"]]
    # the second day alone (6 leads >= 4): ranked among themselves, its top half flagged
    assert run_day(stand_in, "2021-12-02", counts("2021-12-02")) == {60: 0, 62: 0, 64: 0, 66: 1, 68: 1, 70: 1}
    scoring.score_file(stand_in, write_csv(day_one, tmp_path / "day_one.csv"), production=True)
    # now day one is production: day two's rerun is ranked above it
    assert run_day(stand_in, "2021-12-02", counts("2021-12-02")) == {60: 1, 62: 1, 64: 1, 66: 1, 68: 1, 70: 1}


class _Shadow(_Model):
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:  # scores every lead 0.9: flags whatever it pools with
        return pd.DataFrame({"score": [0.9] * len(frame), "predicted_label": 0, "top_reasons": "s"})


SHADOW = ScoringModel("lead_scoring", "4", "run", _Shadow(), None, {})


def test_a_challenger_scores_as_a_shadow_that_is_never_acted_on(stand_in, monkeypatch):
    from lead_scoring.pipelines.inference import outbox_path

    monkeypatch.setattr(inference, "shadow_model", lambda *_a: SHADOW)
    run_day(stand_in, "2021-12-01", counts("2021-12-01"))
    with StagingDatabase(stand_in.db_url) as db:
        rows = db.query("SELECT model_version, role, production, COUNT(*) AS n FROM predictions GROUP BY 1, 2, 3")
        scored_leads = db.count_rows("scored_leads")
    assert rows.values.tolist() == [["3", "champion", 1, 6], ["4", "shadow", 1, 6]]
    assert scored_leads == 6  # the leads once, as the champion scored them
    outbox = pd.read_csv(outbox_path(stand_in, "2021-12-01T00:00:00+00:00"))
    assert outbox["model_version"].astype(str).unique().tolist() == ["3"] and len(outbox) == 6
    # the champion's next day is ranked among its own rows only, as without the shadow
    assert run_day(stand_in, "2021-12-02", counts("2021-12-02")) == {60: 1, 62: 1, 64: 1, 66: 1, 68: 1, 70: 1}


def test_the_shadow_is_the_challenger_alias_when_it_is_not_the_champion(monkeypatch, settings):
    loaded = []
    monkeypatch.setattr(inference, "load_model", lambda _s, version=None: loaded.append(version) or SHADOW)
    monkeypatch.setattr(inference, "version_by_alias", lambda _s, alias: SimpleNamespace(version="3"))
    assert inference.shadow_model(settings, CHAMPION) is None  # the newest version is the champion itself
    monkeypatch.setattr(inference, "version_by_alias", lambda _s, alias: None)
    assert inference.shadow_model(settings, CHAMPION) is None  # no challenger
    monkeypatch.setattr(inference, "version_by_alias", lambda _s, alias: SimpleNamespace(version=alias))
    assert inference.shadow_model(settings, CHAMPION) is SHADOW and loaded == ["challenger"]


def test_a_registry_that_cannot_take_the_online_cut_is_a_warning_not_a_lost_day(settings, monkeypatch, caplog):
    """The batch's flags stand when the version cannot be tagged with the cut the served model reads."""
    import logging

    def unreachable(*_args: object) -> None:
        raise ConnectionError("MLflow at http://mlflow:5000 refused the connection\nretry 1 of 5")

    monkeypatch.setattr(scoring, "set_version_tags", unreachable)
    scored = pd.DataFrame({"score": [0.2, 0.4, 0.6, 0.8]})
    with caplog.at_level(logging.WARNING, logger="lead_scoring"):
        cut = scoring.publish_online_cut(settings, CHAMPION, scored, np.array([0.1, 0.3, 0.5, 0.7]))
    assert cut == pytest.approx(0.5)  # the top half of the pool of four (the policy's share)
    assert caplog.messages == [
        "the online cut of v3 is not updated (the batch is scored): MLflow at http://mlflow:5000 refused the connection"
    ]
