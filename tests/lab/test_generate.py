"""The synthetic lead generator: schema, determinism, realistic shape and signal."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.errors import InvalidArgumentError
from lead_scoring.lab.generate import generate_leads
from lead_scoring.schema import LABEL, RAW_COLUMNS, RAW_FEATURE_COLUMNS


def test_same_seed_same_leads_other_seed_other_leads():
    pd.testing.assert_frame_equal(generate_leads(500, seed=3), generate_leads(500, seed=3))
    assert not generate_leads(500, seed=3).equals(generate_leads(500, seed=4))


def test_raw_schema_dates_and_shape():
    leads = generate_leads(20_000, seed=1, start="2021-07-01", end="2021-12-31")
    assert list(leads.columns) == list(RAW_COLUMNS)
    created = pd.to_datetime(leads["created_date"], format="%Y-%m-%d %H:%M:%S")
    assert created.min() >= pd.Timestamp("2021-07-01") and created.max() < pd.Timestamp("2022-01-01")
    assert 0.4 < leads[LABEL].mean() < 0.6
    assert 0.02 < leads["city_mapped"].isna().mean() < 0.06  # about 4% of real leads have no city
    assert leads["referred_lead"].dropna().isin([0.0, 1.0]).all()
    assert (leads["total_leads_droppped"].dropna() >= 1).all()


def test_label_free_leads_for_scoring():
    assert list(generate_leads(10, with_label=False).columns) == list(RAW_FEATURE_COLUMNS)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        generate_leads(0)
    with pytest.raises(InvalidArgumentError, match="--start 2021-12-31 is after --end 2021-12-01"):
        generate_leads(10, start="2021-12-31", end="2021-12-01")


def test_generated_leads_carry_a_learnable_conversion_signal():
    """A model trained on Jul-Nov generated leads ranks December's better than chance, as on real leads."""
    from lightgbm import LGBMClassifier
    from sklearn.metrics import roc_auc_score

    leads = generate_leads(20_000, seed=5)
    created = pd.to_datetime(leads["created_date"])
    features = pd.get_dummies(
        leads[["first_platform_c", "first_utm_medium_c", "first_utm_source_c", "city_mapped"]].fillna("NA")
    ).assign(dropped=leads["total_leads_droppped"], referred=leads["referred_lead"])
    train = created < "2021-12-01"
    model = LGBMClassifier(n_estimators=100, verbose=-1).fit(features[train], leads.loc[train, LABEL])
    auc = roc_auc_score(leads.loc[~train, LABEL], model.predict_proba(features[~train])[:, 1])
    assert auc > 0.7
