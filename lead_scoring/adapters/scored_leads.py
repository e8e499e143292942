"""The loop's record of scored leads: each scored lead's model input, kept by lead_id with the time it was
first scored, so late outcomes can be matched to what the model saw. Written by every scoring path,
read by the feedback pipeline."""

from __future__ import annotations

import pandas as pd

from lead_scoring.adapters.staging import StagingDatabase, run_key_for
from lead_scoring.core.feedback import scored_lead_rows
from lead_scoring.schema import FIRST_SCORED_AT, LEAD_ID, SCORED_LEADS


def record_scored_leads(db: StagingDatabase, run_key: str, model_input: pd.DataFrame, scored_at: object) -> int:
    """Upsert a scored batch's model input into `scored_leads` by lead_id; the first scoring time stays."""
    rows = scored_lead_rows(model_input, pd.Timestamp(scored_at))
    return db.merge_rows(run_key_for("scored:" + run_key), SCORED_LEADS, rows, keys=[LEAD_ID], keep=[FIRST_SCORED_AT])
