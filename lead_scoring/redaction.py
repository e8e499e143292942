"""Secrets kept out of what is printed, logged or mailed: passwords in URLs and known secret values."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|credential", re.IGNORECASE)
_MASK = "***"
# in free text (errors, tracebacks, log lines): a URL's `user:password@` and a secret query value
_TEXT_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@]*:)[^\s]*@")
_BARE_USERINFO = re.compile(r"^(?P<head>(?:[a-zA-Z][a-zA-Z0-9+.-]*:/*)?[^:/@\s]+:)[^@\s/]*@")
_TEXT_QUERY = re.compile(r"(?P<head>[?&;][^=&\s]*(?:pass|pwd|secret|token|key|credential)[^=&\s]*=)[^&\s#'\"]*", re.I)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info and every secret query value masked (``***``).

    Plain URL parsing (no SQLAlchemy: the pure core may import this module), so it also reads
    URLs SQLAlchemy cannot: ``http://user:pw@mlflow:5000``, ``postgresql://h/db?password=pw``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    redacted = url
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        redacted = redacted.replace(parts.netloc, f"{userinfo.split(':', 1)[0]}:{_MASK}@{host}", 1)
    elif not parts.netloc and "@" in url:  # malformed (`user:pw@host/db`, `scheme:/user:pw@host`): mask anyway
        redacted = _BARE_USERINFO.sub(lambda m: m.group("head") + _MASK + "@", redacted, count=1)
    if parts.query:  # rebuilt in place: urlunsplit would turn sqlite:////abs/path into sqlite://abs/path
        head, _, tail = redacted.partition("?")
        query, hash_, fragment = tail.partition("#")
        query = "&".join(_redact_pair(pair) for pair in query.split("&"))
        redacted = f"{head}?{query}{hash_}{fragment}"
    return redacted


def _redact_pair(pair: str) -> str:
    key, equals, _value = pair.partition("=")
    return f"{key}={_MASK}" if equals and _SECRET_KEY.search(unquote(key)) else pair


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """Free text with every URL credential and each of ``secrets`` (as written or percent-encoded) masked.

    ``secrets`` defaults to the credentials of the process's environment (:func:`secrets_in`).
    """
    secrets = secrets_in(os.environ) if secrets is None else secrets
    forms = {form for secret in secrets if len(secret) >= 4 for form in (secret, quote(secret, safe=""))}
    for form in sorted(forms, key=len, reverse=True):  # the longest first: a secret may contain another
        text = text.replace(form, _MASK)
    text = _TEXT_USERINFO.sub(lambda m: m.group("head") + _MASK + "@", text)
    return _TEXT_QUERY.sub(lambda m: m.group("head") + _MASK, text)


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The credentials an environment holds for this project: its URLs' passwords and MLflow's password/token."""
    found = [env.get(name, "") for name in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")]
    for name in ("LEAD_SCORING_DB_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        try:
            parts = urlsplit(env.get(name, ""))
        except ValueError:
            continue
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.append(unquote(userinfo.split(":", 1)[1]))
        found += [
            unquote(value)
            for key, _, value in (p.partition("=") for p in parts.query.split("&"))
            if _SECRET_KEY.search(key)
        ]
    return [secret for secret in found if secret]
