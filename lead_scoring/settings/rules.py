"""The rules a single bound cannot say, and pydantic's errors as the one plain line a person reads.

Every message names the variable a person set (``LEAD_SCORING_DRIFT_LIMIT=0.0: must be above 0``).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import annotated_types
from pydantic import ValidationError

from lead_scoring.settings.declaration import CEILINGS, MAX_NAME_CHARS, MAX_PATH_CHARS

if TYPE_CHECKING:
    from lead_scoring.settings.declaration import Declaration

ENV_PREFIX = "LEAD_SCORING_"
PATHS = (
    "home",
    "db_url",
    "tracking_uri",
    "artifact_root",
    "data_dir",
    "city_tier_path",
    "significant_levels_path",
    "interaction_groups_path",
    "landing_dir",
    "outcomes_dir",
)
_FOLDERS = ("home", "artifact_root", "data_dir", "landing_dir", "outcomes_dir")
_URL_RULE = "must be an http(s) base URL without user or password (it is written into mails)"


def folder_setting(name: str) -> bool:
    """Whether a path setting names a folder (else a file)."""
    return name in _FOLDERS


def variable(cls: type[Declaration], name: str) -> str:
    """The environment variable a field is read from (a name that is no field is returned as it is)."""
    field = cls.model_fields.get(name)
    if field is None:
        return name
    alias = field.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


def shown(value: object) -> str:
    """A value as a message quotes it: a 100,000-character one is cut, so the message stays one short line."""
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(str(value)):,} characters)"


def range_rule(cls: type[Declaration], name: str) -> str:
    """A field's bounds in words: "must be between 0 and 1", "must be at least 1, at most 1,000,000,000"
    (a sanity ceiling, named only after the bound a person tunes to); "" for a field without bounds."""
    bounds: dict[str, Any] = {}
    for item in cls.model_fields[name].metadata:
        for key in ("gt", "ge", "lt", "le"):
            if isinstance(item, getattr(annotated_types, key.capitalize())):
                bounds[key] = getattr(item, key)
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if high is not None and high[1] in CEILINGS:
        tail = f", at most {high[1]:,}"
        high = None
    else:
        tail = ""
    if low and high:
        words = {
            ("ge", "le"): "between {} and {}",
            ("gt", "lt"): "between {} and {} (exclusive)",
            ("ge", "lt"): "at least {} and below {}",
            ("gt", "le"): "above {} and at most {}",
        }[(low[0], high[0])]
        return "must be " + words.format(low[1], high[1]) + tail
    if low:
        if low == ("ge", 0):
            return "must not be negative" + tail
        return ("must be at least {}" if low[0] == "ge" else "must be above {}").format(low[1]) + tail
    if high:
        return ("must be at most {}" if high[0] == "le" else "must be below {}").format(high[1])
    return "must be" + tail.removeprefix(",") if tail else ""


def one_line(cls: type[Declaration], exc: ValidationError) -> str:
    """The first of pydantic's (multi-line) errors as one plain line naming the variable."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    by_alias = {variable(cls, field): field for field in cls.model_fields}
    field = name if name in cls.model_fields else by_alias.get(name, "")
    var, given, kind = variable(cls, field or name), error.get("input"), error["type"]
    hint = cls.model_fields[field].annotation if field else None
    if kind in ("int_parsing", "float_parsing", "int_from_float"):
        return f"{var}={shown(given)} is not a valid {'int' if hint is int else 'float'}"
    if kind == "finite_number":
        if isinstance(given, str):
            return f"{var}={shown(given)} is not a finite number"
        return f"{var}={shown(given)}: must be a finite number"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        if isinstance(given, str) and hint in (int, float):
            given = hint(given)  # the value as read: "1" for a float setting is 1.0
        return f"{var}={shown(given)}: {range_rule(cls, field)}"
    if kind == "literal_error" and hint is not None:
        return f"{var}={shown(given)}: must be " + " or ".join(repr(v) for v in typing.get_args(hint))
    if kind in ("string_too_short", "string_too_long"):
        ctx = cls.model_fields[field].metadata
        longest = next(getattr(m, "max_length", None) for m in ctx if getattr(m, "max_length", None))
        return f"{var}={shown(given)}: must be 1 to {longest} characters"
    if kind == "extra_forbidden":
        return f"unknown setting(s): {name}"
    return f"{var}={shown(given)}: " + " ".join(str(error["msg"]).split())


def _path_problem(value: str | Path, name: str) -> str | None:
    """Why a path (or a URL: only its form) cannot be what the setting needs, or None."""
    text = str(value)
    if "\x00" in text:
        return "contains a NUL byte"
    if len(text) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS:,} characters"
    if name == "tracking_uri":  # MLflow's own: "databricks" is one too
        return None
    if name == "db_url":
        if "://" not in text:
            return "is not a URL (e.g. sqlite:////path/to/file.db or postgresql://host/db)"
        return None  # a SQLite file that is a folder, or under a file: the staging database says so
    where = Path(value).expanduser()
    if any(len(part) > MAX_NAME_CHARS for part in where.parts):
        return f"has a name longer than {MAX_NAME_CHARS} characters"
    try:
        if name in _FOLDERS and where.exists() and not where.is_dir():
            return "is a file, not a folder"
        if name not in _FOLDERS and where.is_dir():
            return "is a folder, not a file"
        parent = next((p for p in where.parents if p.exists()), None)
    except OSError as exc:  # a path the system cannot even look at
        return f"cannot be read ({exc.strerror})"
    if parent is not None and not parent.is_dir():
        return f"is inside {parent}, which is a file"
    return None


def first_problem(settings: Declaration) -> str | None:
    """The first rule a settings object breaks that its fields' bounds cannot say, as one plain line."""
    cls = type(settings)
    problems: list[str] = []

    def check(ok: bool, name: str, rule: str) -> None:
        if not ok:
            problems.append(f"{variable(cls, name)}={shown(getattr(settings, name))}: {rule}")

    hot = variable(cls, "hot_cutoff")
    rule = f"must not be above {hot}={settings.hot_cutoff} (a warm lead scores below a hot one)"
    check(settings.warm_cutoff <= settings.hot_cutoff, "warm_cutoff", rule)
    for name in ("experiment_name", "model_name"):
        check(getattr(settings, name).isprintable(), name, "must be printable characters")
    for name in PATHS:
        problem = _path_problem(getattr(settings, name), name)
        if problem:
            check(False, name, problem)
    for name in ("airflow_url", "mlflow_url"):  # a link in a mail: a plain web address, no credential
        url = getattr(settings, name)
        check(not url or (re.match(r"https?://[^\s@/]+(/\S*)?$", url) is not None), name, _URL_RULE)
    check(
        all(re.fullmatch(r"[^@\s,]+@[^@\s,]+", a.strip()) for a in settings.alert_emails.split(",") if a.strip()),
        "alert_emails",
        "must be comma-separated mail addresses (name@host)",
    )
    check(
        settings.inference_max_active_runs == 1 or not settings.db_url.startswith("sqlite"),
        "inference_max_active_runs",
        "must be 1 on a SQLite staging database (one writer at a time); run days concurrently on PostgreSQL",
    )
    return problems[0] if problems else None
