"""The mutation score of the pure core after `mutmut run`, and every survivor not explained.

    make mutate                        # mutmut run, then this report
    .venv/bin/python tools/mutation_report.py

Reads mutmut's results (mutants/lead_scoring/*.py.meta) and `tests/mutation_accepted.toml`, where
each accepted survivor is named with why no test should kill it (an equivalent mutant, a timing
knob, wording). Prints one row per module and the unexplained survivors; exits 1 when there is
any, so the habit is: kill it with a test, or explain it there.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "mutants" / "lead_scoring"
ACCEPTED = ROOT / "tests" / "mutation_accepted.toml"

# mutmut's exit codes (mutmut.stats.status_by_exit_code, 3.8), read here without importing mutmut
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout"}
_STATUS.update(dict.fromkeys((-24, 24, 152, 255), "timeout"))
_STATUS.update(dict.fromkeys((-11, -9), "segfault"))
_CAUGHT = ("killed", "timeout", "segfault")  # the tests noticed: failed, hung or crashed
_OPEN = ("survived", "no tests")  # nothing noticed


def statuses() -> dict[str, str]:
    """Mutant name -> status, from every results file."""
    found: dict[str, str] = {}
    for meta in sorted(RESULTS.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = "not checked" if code is None else _STATUS.get(code, "suspicious")
    return found


def accepted() -> dict[str, str]:
    """Mutant name -> why it may survive."""
    if not ACCEPTED.exists():
        return {}
    table = tomllib.loads(ACCEPTED.read_text())
    return {name: entry["why"] for name, entry in table.get("mutant", {}).items()}


def module_of(name: str) -> str:
    return name.split(".")[1]


def main() -> int:
    found = statuses()
    if not found:
        print("no mutmut results under mutants/: run `make mutate` first")
        return 1
    reasons = accepted()
    print(f"{'module':<12} {'mutants':>7} {'caught':>7} {'accepted':>8} {'open':>5} {'score':>6}")
    rows: dict[str, Counter] = {}
    for name, status in found.items():
        row = rows.setdefault(module_of(name), Counter())
        row["mutants"] += 1
        if status in _CAUGHT:
            row["caught"] += 1
        elif status in _OPEN and name in reasons:
            row["accepted"] += 1
        elif status in _OPEN:
            row["open"] += 1
        else:
            row[status] += 1
    total = Counter()
    for module, row in sorted(rows.items()):
        total.update(row)
        print(_row(module, row))
    print(_row("all", total))
    others = sorted(status for status in set(found.values()) if status not in (*_CAUGHT, *_OPEN))
    for status in others:
        print(f"{total[status]} {status}")
    unexplained = sorted(name for name, status in found.items() if status in _OPEN and name not in reasons)
    stale = sorted(name for name in reasons if found.get(name) not in _OPEN)
    for name in stale:
        print(f"accepted but no longer surviving (remove it from {ACCEPTED.name}): {name}")
    if unexplained:
        print(f"\n{len(unexplained)} survivors unexplained (`mutmut show NAME`, then a test or {ACCEPTED.name}):")
        for name in unexplained:
            print(f"  {name}  [{found[name]}]")
        return 1
    return 0


def _row(module: str, row: Counter) -> str:
    scored = row["caught"] + row["accepted"] + row["open"]
    score = f"{row['caught'] / scored:.1%}" if scored else "-"
    return f"{module:<12} {row['mutants']:>7} {row['caught']:>7} {row['accepted']:>8} {row['open']:>5} {score:>6}"


if __name__ == "__main__":
    sys.exit(main())
