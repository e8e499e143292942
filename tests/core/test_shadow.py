"""Shadow against champion on the same labelled leads (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from lead_scoring.core.shadow import compare_on_same_leads

# Four labelled leads (L1, L2 converted; L3, L4 not) scored by champion v1 and shadow v2; L5 has no
# outcome yet, L6 only the champion scored. The champion ranks L3 above L2 (AUC 0.75); the shadow
# ranks both converted leads first (AUC 1.0).
ROWS = [
    # lead, version, role, score, flag, label
    ("L1", "1", "champion", 0.9, 1, 1),
    ("L2", "1", "champion", 0.4, 0, 1),
    ("L3", "1", "champion", 0.6, 1, 0),
    ("L4", "1", "champion", 0.1, 0, 0),
    ("L5", "1", "champion", 0.8, 1, None),
    ("L6", "1", "champion", 0.7, 1, 1),
    ("L1", "2", "shadow", 0.8, 1, 1),
    ("L2", "2", "shadow", 0.7, 1, 1),
    ("L3", "2", "shadow", 0.3, 0, 0),
    ("L4", "2", "shadow", 0.2, 0, 0),
    ("L5", "2", "shadow", 0.9, 1, None),
]


def scored(rows=ROWS, with_role: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["lead_id", "model_version", "role", "score", "predicted_label", "app_complete_flag"]
    )
    frame["app_complete_flag"] = frame["app_complete_flag"].astype(float)
    return frame if with_role else frame.drop(columns=["role"])


def test_the_shadow_and_the_champion_are_judged_on_the_same_labelled_leads():
    verdict = compare_on_same_leads(scored(), "1", "2", min_leads=4)
    assert verdict.leads == 4  # L1-L4: L5 has no label, L6 no shadow score
    assert verdict.champion.auc == pytest.approx(0.75) and verdict.shadow.auc == pytest.approx(1.0)
    assert verdict.champion.precision == pytest.approx(0.5) and verdict.shadow.precision == pytest.approx(1.0)
    assert verdict.status == "shadow_better"
    assert verdict.line() == (
        "shadow v2 auc 1.000 precision 1.000 recall 1.000 vs champion v1 auc 0.750 precision 0.500 "
        "recall 0.500 on the same 4 labelled leads: the shadow is better"
    )


def test_too_few_common_leads_decide_nothing():
    assert compare_on_same_leads(scored(), "1", "2", min_leads=5).status == "too_few_leads"


def test_a_shadow_no_better_than_the_champion_is_not_promoted():
    swapped = [(lead, {"1": "2", "2": "1"}[v], {"champion": "shadow", "shadow": "champion"}[r], s, f, y)
               for lead, v, r, s, f, y in ROWS]  # fmt: skip
    verdict = compare_on_same_leads(scored(swapped), "1", "2", min_leads=4)  # champion v1 ranks as the shadow did
    assert verdict.champion.auc == pytest.approx(1.0) and verdict.shadow.auc == pytest.approx(0.75)
    assert verdict.status == "champion_better"


def test_a_table_without_roles_holds_champion_rows_only():
    verdict = compare_on_same_leads(scored(with_role=False), "1", "2", min_leads=1)
    assert verdict.leads == 0 and verdict.status == "too_few_leads"
    assert verdict.shadow.auc is None
