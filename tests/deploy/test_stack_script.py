"""scripts/stack_test.sh (make stack-test): its checks can fail, and it kills whole process groups."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stack_test.sh"


def function(name: str) -> str:
    """The text of one shell function of the script, from `name() {` to its closing `}`."""
    text = SCRIPT.read_text()
    found = re.search(rf"^{name}\(\) \{{[^\n]*\n.*?^\}}\n", text, re.M | re.S)
    assert found, f"scripts/stack_test.sh has no function {name}()"
    return found.group(0)


def run_check(condition: str) -> subprocess.CompletedProcess:
    script = "\n".join(
        [
            "set -euo pipefail",
            'log() { echo "$*"; }',
            function("check"),
            f"check 'the condition' {condition}",
            "echo went on",
        ]
    )
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True)


def test_a_check_that_does_not_hold_fails_the_script():
    failed = run_check('[ "" -gt 19000 ]')  # an empty count (the query failed) fails too
    assert failed.returncode == 1
    assert "CHECK FAILED: the condition" in failed.stdout and "went on" not in failed.stdout
    assert run_check("[ 5 -gt 19000 ]").returncode == 1


def test_a_check_that_holds_goes_on():
    passed = run_check("[ 20000 -gt 19000 ]")
    assert passed.returncode == 0 and passed.stdout.splitlines() == ["check: the condition", "went on"]


def test_no_check_is_an_and_list_that_set_e_ignores():
    """`[ a ] && [ b ]` as a statement never fails the script when `a` is false (set -e ignores it)."""
    statements = [line.strip() for line in SCRIPT.read_text().splitlines() if not line.strip().startswith("#")]
    assert not [line for line in statements if re.match(r"^\[.*\]\s*&&\s*\[", line)]
    assert not [line for line in statements if re.fullmatch(r"\[ [^;]* \]", line)]  # a bare test: use check


def test_services_start_in_their_own_process_group_and_are_killed_as_one():
    """The Celery worker's serve-logs (and MLflow's workers) are children: killing the leader alone left them."""
    assert "setsid " in function("start")
    assert 'kill -TERM -- "-$pid"' in function("teardown") and 'kill -KILL -- "-$pid"' in function("teardown")
    assert "processes left behind" in function("teardown")
    body = SCRIPT.read_text().split("# -- MLflow tracking server", 1)[1]
    assert not re.search(r"&\s*$", body, re.M), "start background services with start(), not a bare &"
