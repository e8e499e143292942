"""Online scoring, measured: a real HTTP client against `mlflow models serve` on loopback.

    python bench/serve.py                       # the champion of $MLFLOW_TRACKING_URI (make demo first)
    python bench/serve.py --singles 1000 --batches 30

Starts `mlflow models serve -m models:/lead_scoring@champion --env-manager local` on 127.0.0.1,
posts raw leads (JSON ``dataframe_records``, counts as numbers, blanks left out, as a CRM sends
them) over one keep-alive connection, and reports single-lead latency p50/p99, leads/s in
batches of 1,000, and the time of a request of 250 leads with one bad lead (a ``referred_lead``
of 7) against the same request clean, posted alternately (median of each; target: at most 2x).
To say how much of the time is MLflow's server, the same requests are timed
in-process twice: the model's ``predict`` alone, and MLflow's request handling around it
(``scoring_server.invocations``: JSON parsing, schema enforcement, predict, JSON writing). What is
left of the HTTP latency is uvicorn, the thread hop and the socket (the in-process timings run after
the HTTP phase: on a shared machine compare them, do not subtract). Loopback only, bounded loops.
Writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
HOSTILE_SIZE = 250
HIGHER_IS_BETTER = {"batch_leads_per_s"}
TARGETS = {"single_p50_ms": 20.0, "single_p99_ms": 50.0, "batch_leads_per_s": 20_000.0, "one_bad_ratio": 2.0}


def crm_records(rows: int, seed: int) -> list[dict[str, Any]]:
    """Generated raw leads as a CRM posts them: counts as numbers, blank fields left out, no label."""
    from lead_scoring.lab.generate import generate_leads
    from lead_scoring.schema import CATEGORICAL_COLUMNS, CITY, CREATED_DATE

    leads = generate_leads(rows, seed=seed, start="2021-12-01", end="2021-12-07", with_label=False)
    texts = {CREATED_DATE, CITY, *CATEGORICAL_COLUMNS}
    records = []
    for i, row in enumerate(leads.to_dict("records")):
        record: dict[str, Any] = {"lead_id": f"bench-{seed}-{i}"}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and value != value):
                continue
            record[key] = str(value) if key in texts else float(value)
        records.append(record)
    return records


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model_uri: str, port: int, workers: int, log: Any) -> subprocess.Popen[bytes]:
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [str(mlflow), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # it runs `uvicorn`
    return subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a file: a pipe would fill
    )


def wait_ready(port: int, server: subprocess.Popen[bytes], log: Path, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow models serve exited: {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"mlflow models serve did not answer /ping within {seconds:.0f} s")


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {payload[:500]!r}")
    return elapsed, json.loads(payload)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def in_process(model_uri: str, singles: list[bytes], batch: bytes) -> dict[str, float]:
    """Median ms of the model's predict alone, and of MLflow's request handling around it, in this process."""
    import mlflow
    import pandas as pd
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_input_schema()
    python_model = model.unwrap_python_model()

    def median_ms(call: Any, items: list[Any]) -> float:
        times = []
        for item in items:
            started = time.perf_counter()
            call(item)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    frames = [pd.DataFrame(json.loads(b)["dataframe_records"]) for b in singles]
    handle = lambda body: scoring_server.invocations(body, "application/json", model, schema)  # noqa: E731
    batch_frame = pd.DataFrame(json.loads(batch)["dataframe_records"])
    # a hostile batch: the same leads with one bad (a referred_lead of 7) in the middle (#29, item 7)
    one_bad = json.loads(batch)
    one_bad["dataframe_records"][len(one_bad["dataframe_records"]) // 2]["referred_lead"] = 7
    return {
        "single_predict_ms": median_ms(lambda f: python_model.predict(None, f), frames),
        "single_mlflow_handling_ms": median_ms(handle, singles),
        "batch_predict_ms": median_ms(lambda f: python_model.predict(None, f), [batch_frame] * 3),
        "batch_mlflow_handling_ms": median_ms(handle, [batch] * 3),
        "batch_one_bad_mlflow_handling_ms": median_ms(handle, [json.dumps(one_bad).encode()] * 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/lead_scoring@champion")
    parser.add_argument("--singles", type=int, default=500, help="single-lead requests timed (after 20 warm-up)")
    parser.add_argument("--batches", type=int, default=20, help="requests of --batch-size leads timed")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of mlflow models serve")
    parser.add_argument("--hostile", type=int, default=30, help="pairs of 250-lead requests, clean and one bad")
    parser.add_argument("--out", default=str(RESULTS / "serve.json"), help="where the figures are written")
    args = parser.parse_args()
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{ROOT / 'mlflow.db'}"
    singles = [json.dumps({"dataframe_records": [r]}).encode() for r in crm_records(min(args.singles, 2000), seed=11)]
    batch_records = crm_records(args.batch_size, seed=12)
    batch = json.dumps({"dataframe_records": batch_records}).encode()
    clean_250 = batch_records[:HOSTILE_SIZE]
    bad_250 = [dict(r) for r in clean_250]
    bad_250[HOSTILE_SIZE // 2]["referred_lead"] = 7  # one bad lead in the middle (#29, item 7)
    hostile = (
        json.dumps({"dataframe_records": clean_250}).encode(),
        json.dumps({"dataframe_records": bad_250}).encode(),
    )

    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "serve_server.log"
    with log.open("wb") as log_file:
        server = start_server(args.model_uri, port, args.workers, log_file)
    try:
        wait_ready(port, server, log)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in singles[:20]:  # warm-up: first requests pay imports and caches
            post(conn, body)
        latencies = [post(conn, singles[i % len(singles)])[0] * 1000 for i in range(args.singles)]
        batch_times = []
        for _ in range(args.batches):
            elapsed, answer = post(conn, batch)
            if len(answer["predictions"]) != args.batch_size:
                raise SystemExit(f"{len(answer['predictions'])} answers for {args.batch_size} leads")
            batch_times.append(elapsed)
        clean_times, bad_times = [], []
        for _ in range(args.hostile):  # alternately, so both see the same load
            clean_times.append(post(conn, hostile[0])[0])
            elapsed, answer = post(conn, hostile[1])
            if sum(1 for p in answer["predictions"] if p.get("error")) != 1:
                raise SystemExit("the one bad lead of the hostile request was not the one refused lead")
            bad_times.append(elapsed)
        conn.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    figures: dict[str, float] = {
        "single_p50_ms": percentile(latencies, 0.50),
        "single_p99_ms": percentile(latencies, 0.99),
        "batch_ms_median": statistics.median(batch_times) * 1000,
        "batch_leads_per_s": args.batch_size * args.batches / sum(batch_times),
        "clean_250_ms": statistics.median(clean_times) * 1000,
        "one_bad_250_ms": statistics.median(bad_times) * 1000,
    }
    figures["one_bad_ratio"] = figures["one_bad_250_ms"] / figures["clean_250_ms"]
    figures.update(in_process(args.model_uri, singles[:200], batch))

    print(f"mlflow models serve, {args.workers} worker(s), {os.cpu_count()} cores, {args.model_uri}")
    print(f"single lead   p50 {figures['single_p50_ms']:6.1f} ms   p99 {figures['single_p99_ms']:6.1f} ms"
          f"   ({args.singles} requests; targets 20 / 50 ms)")  # fmt: skip
    print(f"batches       {figures['batch_leads_per_s']:9,.0f} leads/s   ({args.batches} x {args.batch_size:,}; "
          f"median {figures['batch_ms_median']:.0f} ms a request; target 20,000 leads/s)")  # fmt: skip
    for kind in ("single", "batch"):  # timed after the HTTP phase: the load may differ, compare, do not subtract
        total = figures["single_p50_ms" if kind == "single" else "batch_ms_median"]
        predict, handling = figures[f"{kind}_predict_ms"], figures[f"{kind}_mlflow_handling_ms"]
        print(f"{kind:6s} medians  HTTP round trip {total:7.1f} ms | in-process: model predict {predict:7.1f} ms, "
              f"with MLflow's parsing, enforcement and JSON {handling:7.1f} ms")  # fmt: skip
    clean, bad = figures["clean_250_ms"], figures["one_bad_250_ms"]
    print(f"one bad lead  {bad:7.1f} ms for a request of {HOSTILE_SIZE} with it, {clean:7.1f} ms without "
          f"({figures['one_bad_ratio']:.2f}x; at most 2x; HTTP, alternately)")  # fmt: skip
    clean, bad = figures["batch_mlflow_handling_ms"], figures["batch_one_bad_mlflow_handling_ms"]
    print(f"              in-process, 1,000 leads: {bad:7.1f} ms with one bad, {clean:7.1f} ms without "
          f"({bad / clean:.2f}x)")  # fmt: skip
    missed = [name for name, target in TARGETS.items() if
              (figures[name] < target if name in HIGHER_IS_BETTER else figures[name] > target)]  # fmt: skip
    print("targets       " + ("all met" if not missed else "missed: " + ", ".join(missed)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({**figures, "missed": missed}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
