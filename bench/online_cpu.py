"""CPU time of the served model's ``predict`` in this process: one lead, 250 leads clean and with one
bad lead, 1,000 leads. CPU time (``time.thread_time``), not wall time: on a shared machine it moves
far less with the other processes' load, so two checkouts can be compared side by side.

    python bench/online_cpu.py                      # this checkout's lead_scoring code
    python bench/online_cpu.py --code ../other-checkout   # another checkout's, same model

The model is ``--model-uri`` of $MLFLOW_TRACKING_URI (``make demo`` first); its pickled scorer runs
with the ``lead_scoring`` package of ``--code`` (imported before MLflow loads the model's own copy).
Prints the medians in ms, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def median_cpu_ms(predict: Any, frames: list[Any]) -> float:
    times = []
    for frame in frames:
        started = time.thread_time()
        predict(None, frame)
        times.append((time.thread_time() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/lead_scoring@champion")
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose lead_scoring package runs")
    args = parser.parse_args()
    code = Path(args.code).resolve()
    sys.path[:0] = [str(code), str(ROOT)]
    import lead_scoring.adapters.mlflow.pyfunc  # noqa: F401 - this code, not the model's logged copy
    import lead_scoring.core.online

    if not Path(lead_scoring.core.online.__file__).resolve().is_relative_to(code):
        raise SystemExit(f"lead_scoring came from {lead_scoring.core.online.__file__}, not {code}")
    import mlflow
    import pandas as pd

    from bench.serve import crm_records

    predict = mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model().predict
    singles = [pd.DataFrame([record]) for record in crm_records(300, seed=11)]
    records = crm_records(1000, seed=12)
    bad = [dict(record) for record in records[:250]]
    bad[125]["referred_lead"] = 7
    for frame in singles[:20]:  # warm-up
        predict(None, frame)
    figures = {
        "single_ms": median_cpu_ms(predict, singles),
        "clean_250_ms": median_cpu_ms(predict, [pd.DataFrame(records[:250])] * 7),
        "one_bad_250_ms": median_cpu_ms(predict, [pd.DataFrame(bad)] * 7),
        "batch_1000_ms": median_cpu_ms(predict, [pd.DataFrame(records)] * 5),
    }
    figures["one_bad_ratio"] = figures["one_bad_250_ms"] / figures["clean_250_ms"]
    print(json.dumps({"code": code.name, **{k: round(v, 2) for k, v in figures.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
