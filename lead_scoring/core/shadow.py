"""Shadow against champion, pure: two versions judged on the same labelled leads.

The inference run scores each batch with the champion and, when the registry has a `challenger`
other than the champion, with it too, as a shadow (``role`` = ``shadow`` in `predictions`: never
acted on). Once outcomes arrive, the feedback run compares the two on the leads both scored that
have a label; a shadow whose AUC is above the champion's on at least ``min_leads`` such leads has
earned the champion alias (promoted or reported, as a setting says).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from lead_scoring.core.feedback import Figures, realized_figures
from lead_scoring.schema import LABEL, LEAD_ID

ShadowStatus = Literal["too_few_leads", "shadow_better", "champion_better"]
CHAMPION_ROLE, SHADOW_ROLE = "champion", "shadow"


@dataclass(frozen=True)
class ShadowVerdict:
    champion_version: str
    shadow_version: str
    leads: int  # labelled leads both versions scored
    champion: Figures
    shadow: Figures
    status: ShadowStatus
    min_leads: int

    def line(self) -> str:
        """Both versions side by side on the same leads, in one line a person can check."""

        def side(f: Figures) -> str:
            def one(value: float | None) -> str:
                return "n/a" if value is None else f"{value:.3f}"

            return f"auc {one(f.auc)} precision {one(f.precision)} recall {one(f.recall)}"

        verdict = {
            "too_few_leads": f"too few to judge (needs {self.min_leads})",
            "shadow_better": "the shadow is better",
            "champion_better": "the champion is no worse",
        }[self.status]
        return (
            f"shadow v{self.shadow_version} {side(self.shadow)} vs champion v{self.champion_version} "
            f"{side(self.champion)} on the same {self.leads} labelled leads: {verdict}"
        )

    def row(self) -> dict[str, object]:
        return {
            "champion_version": self.champion_version,
            "shadow_version": self.shadow_version,
            "leads": self.leads,
            "champion_auc": self.champion.auc,
            "shadow_auc": self.shadow.auc,
            "champion_precision": self.champion.precision,
            "shadow_precision": self.shadow.precision,
            "champion_recall": self.champion.recall,
            "shadow_recall": self.shadow.recall,
            "status": self.status,
        }


def with_roles(predictions: pd.DataFrame) -> pd.DataFrame:
    """`predictions` rows with a ``role``: a table written before shadows existed has none (all champion)."""
    if "role" not in predictions.columns:
        return predictions.assign(role=CHAMPION_ROLE)
    return predictions.assign(role=predictions["role"].fillna(CHAMPION_ROLE).astype(str))


def compare_on_same_leads(
    scored: pd.DataFrame, champion_version: str, shadow_version: str, min_leads: int
) -> ShadowVerdict:
    """The champion's rows and the shadow's rows of the same labelled leads, side by side.

    ``scored``: `predictions` rows (``lead_id``, ``score``, ``predicted_label``, ``model_version``,
    optionally ``role``) with the leads' outcome in ``app_complete_flag`` (missing: no outcome yet).
    """
    rows = with_roles(scored)
    rows = rows[rows[LABEL].notna()]
    mine = rows[(rows["role"] == CHAMPION_ROLE) & (rows["model_version"].astype(str) == str(champion_version))]
    theirs = rows[(rows["role"] == SHADOW_ROLE) & (rows["model_version"].astype(str) == str(shadow_version))]
    both = mine.drop_duplicates(LEAD_ID).merge(
        theirs.drop_duplicates(LEAD_ID)[[LEAD_ID, "score", "predicted_label"]], on=LEAD_ID, suffixes=("", "_shadow")
    )
    labels = both[LABEL].to_numpy().astype(int)
    champion = realized_figures(labels, both["score"].to_numpy(), both["predicted_label"].to_numpy())
    shadow = realized_figures(labels, both["score_shadow"].to_numpy(), both["predicted_label_shadow"].to_numpy())
    status: ShadowStatus
    if len(both) < min_leads or champion.auc is None or shadow.auc is None:
        status = "too_few_leads"
    elif shadow.auc > champion.auc:
        status = "shadow_better"
    else:
        status = "champion_better"
    return ShadowVerdict(str(champion_version), str(shadow_version), len(both), champion, shadow, status, min_leads)
