"""Benchmarks: prepare, train and score as whole processes at 100k and 1M leads, the reference approach
beside prepare, and the parse time of every DAG file.

    make bench                       # 100k and 1M leads, 3 runs each, median reported, then the server
    python bench/run.py --sizes 1000000 --quick   # 1M leads, one run (--quick: one run of any size >= 1M)
    python bench/run.py --no-serve   # without the served model's rows

After the steps of the first size, the model that size trained is served (`bench/serve.py`:
`mlflow models serve` on loopback) and timed. Writes bench/results/latest.json and prints the
table of issue #31's targets, each figure beside its target. Generated leads are cached in bench/cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"

# Runs a command and reports its peak resident memory (the largest of the process and its children).
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "code = done.returncode\n"
    "sys.stderr.write(done.stderr if code else ''.join(l for l in done.stderr.splitlines(True) if ' took ' in l))\n"
    "elapsed = time.perf_counter() - t\n"
    "print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
# the CLI's -v line per finished step: "INFO lead_scoring: score: write took 12.34 s"
_STEP_TIME = re.compile(r": \w+: (.+) took ([0-9.]+) s$")


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, peak RSS (MiB) and the seconds of each step the CLI reported, of one run of
    ``command``; raises when it fails."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, env=env)
    code, seconds, rss_kib = result.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {code}:\n{result.stderr[-3000:]}")
    steps = {m.group(1): float(m.group(2)) for m in map(_STEP_TIME.search, result.stderr.splitlines()) if m}
    return float(seconds), int(rss_kib) / 1024, steps


def leads_file(rows: int, labelled: bool) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"leads_{rows}{'' if labelled else '_unlabelled'}.csv"
    if not path.exists():
        args = ["--rows", str(rows), "--seed", "1" if labelled else "2", "--out", str(path)]
        if labelled:
            args += ["--start", "2021-07-01", "--end", "2021-11-30"]
        else:
            args += ["--start", "2021-12-01", "--end", "2021-12-31", "--no-label"]
        subprocess.run([str(BIN / "lead-scoring"), "generate", *args], check=True, stdout=subprocess.DEVNULL)
    return path


def bench_serve(env: dict[str, str], quick: bool) -> dict:
    """The served model's figures (bench/serve.py against the champion of ``env``'s tracking store)."""
    out = Path(env["LEAD_SCORING_HOME"]) / "serve.json"
    command = [sys.executable, str(ROOT / "bench" / "serve.py"), "--out", str(out)]
    if quick:
        command += ["--singles", "300", "--batches", "10", "--hostile", "20"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench/serve.py failed:\n{(done.stdout + done.stderr)[-3000:]}")
    for line in done.stdout.splitlines():
        print("  " + line, flush=True)
    return dict(json.loads(out.read_text()))


def bench_size(rows: int, runs: int, serve: bool = False, quick: bool = False) -> list[dict]:
    labelled, unlabelled = leads_file(rows, True), leads_file(rows, False)
    results = []
    with tempfile.TemporaryDirectory(prefix="lead-scoring-bench-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "LEAD_SCORING_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
        env.pop("LEAD_SCORING_DB_URL", None)
        cli = str(BIN / "lead-scoring")
        steps = [
            ("prepare", [cli, "-v", "prepare", "--input", str(labelled)]),
            (
                "reference prepare",
                [
                    sys.executable,
                    str(ROOT / "bench" / "reference_pipeline.py"),
                    "--input",
                    str(labelled),
                    "--db",
                    str(home / "reference.db"),
                ],
            ),
            ("train", [cli, "-v", "train"]),
            ("score", [cli, "-v", "score", "--input", str(unlabelled), "--top", "0"]),
        ]
        for name, command in steps:
            samples = []
            for _ in range(runs):
                if name == "reference prepare":
                    (home / "reference.db").unlink(missing_ok=True)
                samples.append(measure(command, env))
            seconds = statistics.median(s for s, _, _ in samples)
            memory = statistics.median(m for _, m, _ in samples)
            # each step's median over the runs, and what the steps leave out (interpreter start, imports)
            names = list(dict.fromkeys(step for _, _, steps in samples for step in steps))
            breakdown = {step: statistics.median(t[step] for _, _, t in samples if step in t) for step in names}
            if breakdown:
                breakdown = {"start-up": max(seconds - sum(breakdown.values()), 0.0), **breakdown}
            breakdown = {step: round(t, 2) for step, t in breakdown.items()}
            results.append(
                {
                    "step": name,
                    "rows": rows,
                    "runs": runs,
                    "seconds": round(seconds, 2),
                    "rows_per_second": round(rows / seconds),
                    "peak_rss_mib": round(memory),
                    "steps": breakdown,
                }
            )
            print(
                f"  {name:<18} {rows:>9,} rows  {seconds:8.2f} s  {rows / seconds:>10,.0f} rows/s  {memory:8.0f} MiB",
                flush=True,
            )
            if breakdown:
                print("    " + ", ".join(f"{step} {t:.1f} s" for step, t in breakdown.items()), flush=True)
        if serve:
            print(f"served model (trained on {rows:,} leads)", flush=True)
            results.append({"step": "serve", "trained_rows": rows, **bench_serve(env, quick)})
    return results


def bench_dag_parse(runs: int) -> list[dict]:
    """Seconds to import each DAG file in a fresh interpreter, Airflow itself already imported."""
    probe = (
        "import importlib.util, sys, time\n"
        "import airflow.sdk\n"
        "sys.path.insert(0, str(__import__('pathlib').Path(sys.argv[1]).parent))\n"  # as Airflow does: dags/common.py
        "t = time.perf_counter()\n"
        "spec = importlib.util.spec_from_file_location('dag', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    results = []
    for path in sorted((ROOT / "dags").glob("*.py")):
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True, env=env
                ).stdout.split()[-1]
            )
            for _ in range(runs)
        ]
        seconds = statistics.median(samples)
        results.append({"step": f"parse {path.name}", "seconds": round(seconds, 3)})
        print(f"  parse {path.name:<40} {seconds * 1000:8.1f} ms", flush=True)
    return results


# Issue #31's targets (issue #15's for prepare's memory and the DAG parse)
TARGET_ROWS = 1_000_000
PREPARE_SPEEDUP, PREPARE_MEMORY, TRAIN_SECONDS, SCORE_RATE, PARSE_SECONDS = 10.0, 0.15, 45.0, 100_000, 0.5
SINGLE_P50_MS, SINGLE_P99_MS, BATCH_RATE, ONE_BAD_RATIO = 20.0, 50.0, 20_000, 2.0


def verdicts(results: list[dict]) -> list[str]:
    """Each step of each size beside the reference approach, then issue #31's table: every target,
    today's figure beside it, met or missed."""
    lines = [f"{'step':<18} {'leads':>9}  {'wall':>8}  {'leads/s':>9}  {'memory':>9}  vs reference"]
    reference = {r["rows"]: r for r in results if r.get("step") == "reference prepare"}
    for r in results:
        if "rows" not in r:
            continue
        ref = reference.get(r["rows"])
        note = ""
        if r["step"] == "prepare" and ref:
            speedup, memory = ref["seconds"] / r["seconds"], r["peak_rss_mib"] / ref["peak_rss_mib"]
            note = f"{speedup:.1f}x faster, {memory:.2f} of its memory"
        lines.append(
            f"{r['step']:<18} {r['rows']:>9,}  {r['seconds']:>6.1f} s  {r['rows_per_second']:>9,}  "
            f"{r['peak_rss_mib']:>5,} MiB  {note}"
        )
    lines += ["", f"{'what':<46} {'target':<26} {'measured':<34} verdict"]
    lines += [f"{what:<46} {target:<26} {figure:<34} {verdict}" for what, target, figure, verdict in targets(results)]
    return lines


def targets(results: list[dict]) -> list[tuple[str, str, str, str]]:
    """(what, target, today's figure, met / MISSED / not measured) for every row of issue #31's table."""
    rows: list[tuple[str, str, str, str]] = []
    serve = next((r for r in results if r.get("step") == "serve"), None)

    def add(what: str, target: str, figure: float | None, shown: str, met: bool) -> None:
        rows.append(
            (what, target, shown if figure is not None else "-", _word(met) if figure is not None else "not measured")
        )

    s = serve or {}
    p50, p99, rate, ratio = (s.get(k) for k in ("single_p50_ms", "single_p99_ms", "batch_leads_per_s", "one_bad_ratio"))
    add("one raw lead through the served model, p50", f"<= {SINGLE_P50_MS:g} ms", p50, f"{p50 or 0:.1f} ms",
        (p50 or 0) <= SINGLE_P50_MS)  # fmt: skip
    add("one raw lead through the served model, p99", f"<= {SINGLE_P99_MS:g} ms", p99, f"{p99 or 0:.1f} ms",
        (p99 or 0) <= SINGLE_P99_MS)  # fmt: skip
    add("batches of 1,000 through the served model", f">= {BATCH_RATE:,} leads/s", rate, f"{rate or 0:,.0f} leads/s",
        (rate or 0) >= BATCH_RATE)  # fmt: skip
    add("one bad lead in a request of 250", f"<= {ONE_BAD_RATIO:g}x the clean request", ratio,
        f"{ratio or 0:.2f}x ({s.get('one_bad_250_ms', 0):.0f} / {s.get('clean_250_ms', 0):.0f} ms)",
        (ratio or 0) <= ONE_BAD_RATIO)  # fmt: skip
    big = {r["step"]: r for r in results if r.get("rows", 0) >= TARGET_ROWS}
    score, prepare, ref, train = (big.get(k) for k in ("score", "prepare", "reference prepare", "train"))
    if score:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in score["steps"].items() if k != "start-up")
        add("`score` at 1M leads", f">= {SCORE_RATE:,} leads/s", 1,
            f"{score['rows_per_second']:,} leads/s ({score['seconds']:.1f} s: {steps})",
            score["rows_per_second"] >= SCORE_RATE)  # fmt: skip
    else:
        add("`score` at 1M leads", f">= {SCORE_RATE:,} leads/s", None, "", False)
    if prepare and ref:
        speedup, memory = ref["seconds"] / prepare["seconds"], prepare["peak_rss_mib"] / ref["peak_rss_mib"]
        add("`prepare` at 1M leads", f">= {PREPARE_SPEEDUP:g}x the reference", 1,
            f"{speedup:.1f}x ({prepare['seconds']:.1f} s; {memory:.2f} of its memory)",
            speedup >= PREPARE_SPEEDUP and memory <= PREPARE_MEMORY)  # fmt: skip
    else:
        add("`prepare` at 1M leads", f">= {PREPARE_SPEEDUP:g}x the reference", None, "", False)
    if train:
        add("`train` at 1M leads", f"< {TRAIN_SECONDS:g} s", 1, f"{train['seconds']:.1f} s",
            train["seconds"] < TRAIN_SECONDS)  # fmt: skip
    else:
        add("`train` at 1M leads", f"< {TRAIN_SECONDS:g} s", None, "", False)
    parses = [r["seconds"] for r in results if str(r.get("step", "")).startswith("parse ")]
    if parses:
        add("parse of a DAG file (slowest)", f"< {PARSE_SECONDS} s", 1, f"{max(parses) * 1000:.0f} ms",
            max(parses) < PARSE_SECONDS)  # fmt: skip
    return rows


def _word(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated lead counts")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="one run at 1M leads, whatever --runs says")
    parser.add_argument("--no-serve", dest="serve", action="store_false", help="leave out the served model's rows")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [],
    }
    print("DAG files")
    report["results"] += bench_dag_parse(max(args.runs, 3))
    for position, rows in enumerate(sizes):
        runs = 1 if args.quick and rows >= 1_000_000 else args.runs
        print(f"{rows:,} leads ({runs} run{'s' if runs > 1 else ''})")
        report["results"] += bench_size(rows, runs, serve=args.serve and position == 0, quick=args.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    report["targets"] = [
        {"what": what, "target": target, "measured": figure, "verdict": verdict}
        for what, target, figure, verdict in targets(report["results"])
    ]
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    for line in verdicts(report["results"]):
        print(line)
    print(f"wrote {out.relative_to(ROOT)}")
    shutil.rmtree(CACHE / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
