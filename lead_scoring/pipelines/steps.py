"""What every pipeline takes from what drives it: the CLI's step callback and Airflow's interval bounds."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

StepCallback = Callable[[str], None]
"""Called with each step's name as a run enters it (the CLI's progress bar and its per-step times)."""


def naive_utc(moment: object) -> pd.Timestamp:
    """Lead dates are naive UTC; Airflow's interval bounds are aware."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
