"""The terminal side of the CLI: logging to stderr, a progress bar, and text safe to print."""

from __future__ import annotations

import logging
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lead_scoring.redaction import redact_text

log = logging.getLogger("lead_scoring")


def printable(text: object) -> str:
    """``text`` with every control character (ESC, CR, BEL, ...) shown as an escape (``\\x1b``), so a lead
    id or a level read from an export cannot move the cursor, rewrite the screen or set the title."""
    return "".join(char if unicodedata.category(char) not in ("Cc", "Cf") else repr(char)[1:-1] for char in str(text))


class _RedactingFormatter(logging.Formatter):
    """Log lines, and the tracebacks they carry, with every credential masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def configure_logging(level: int) -> None:
    """Log records of the package to stderr at ``level``; MLflow's own chatter only with debug output."""
    # MLflow's own chatter (progress bars, store migrations, pickling notes) is not the user's business
    # unless they ask for debug output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if level <= logging.DEBUG else "ERROR")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("lead_scoring")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@contextmanager
def progress(steps: list[str], title: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr (only when it is a terminal) advanced once per named step."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        # a line per finished step with its time (-v): where a run spent it, for logs and `make bench`
        current: list[tuple[str, float]] = []

        def finish() -> None:
            if current:
                name, since = current.pop()
                log.info("%s: %s took %.2f s", title, name, time.perf_counter() - since)

        def step(name: str) -> None:
            finish()
            current.append((name, time.perf_counter()))

        yield step
        finish()
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task_id = progress.add_task(title, total=len(steps))
        started = False

        def advance(name: str) -> None:
            nonlocal started
            if started:
                progress.advance(task_id)
            started = True
            progress.update(task_id, description=f"{title}: {name}")

        yield advance
