"""The ``scorer`` service: the registry's champion behind HTTP basic auth, following the alias as it moves.

``mlflow models serve`` loads its model once; this app keeps MLflow's own scoring app (the same
``/invocations`` and ``/ping``, from ``mlflow.pyfunc.scoring_server.init``) for the champion it
loaded, keyed by the alias's version and that version's ``online_cut`` tag. A thread asks the
registry every ``refresh`` seconds; when the key changes it loads the new version beside the old
one and swaps them in one assignment: no request fails or waits during a promotion.

    LEAD_SCORING_SCORER_USERNAME=... LEAD_SCORING_SCORER_PASSWORD=... \\
        lead-scoring serve --host 0.0.0.0 --port 8000

``GET /health`` (open: the compose health check) answers 200 with the version served once a model
is loaded, 503 before. Everything else needs the username and password.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from lead_scoring.adapters.mlflow.registry import CHAMPION
from lead_scoring.adapters.mlflow.tracking import tracking
from lead_scoring.errors import ConfigurationError
from lead_scoring.schema import ONLINE_CUT_TAG
from lead_scoring.settings import Settings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
USERNAME_ENV, PASSWORD_ENV = "LEAD_SCORING_SCORER_USERNAME", "LEAD_SCORING_SCORER_PASSWORD"


@dataclass(frozen=True)
class Served:
    """The model being served: its registry key and MLflow's scoring app around it."""

    version: str
    cut: str | None  # the version's online_cut tag when it was loaded
    app: Any  # mlflow.pyfunc.scoring_server's FastAPI app


class ChampionApp:
    """An ASGI app: basic auth, ``/health``, and the champion's scoring app, swapped when the alias moves."""

    def __init__(self, settings: Settings, username: str, password: str, refresh: float = 30.0) -> None:
        if not username or not password:
            raise ConfigurationError(f"the scorer needs {USERNAME_ENV} and {PASSWORD_ENV}")
        self.settings = settings
        self.refresh = refresh
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._expected = f"Basic {token}".encode()
        self.served: Served | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self) -> bool:
        """Load the champion if the alias or its cut moved since the last look; True when it swapped."""
        found = tracking(self.settings).versions.version_by_alias(CHAMPION)
        if found is None:
            log.warning("no champion for %s yet", self.settings.model_name)
            return False
        cut = found.tags.get(ONLINE_CUT_TAG)
        current = self.served
        if current is not None and (current.version, current.cut) == (found.version, cut):
            return False
        from mlflow.pyfunc import scoring_server

        config = {ONLINE_CUT_TAG: float(cut)} if cut is not None else None
        model = tracking(self.settings).versions.load_model(found.version, model_config=config)
        self.served = Served(found.version, cut, scoring_server.init(model))  # one assignment: the swap
        log.info("serving %s version %s (online cut %s)", self.settings.model_name, found.version, cut)
        return True

    def start(self) -> None:
        """The first load, then a daemon thread that follows the alias every ``refresh`` seconds."""
        self._safe_follow()
        self._thread = threading.Thread(target=self._loop, name="follow-champion", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            self._safe_follow()

    def _safe_follow(self) -> None:
        try:
            self.follow()
        except Exception:  # noqa: BLE001 - the registry may be down a while: keep serving what is loaded
            log.exception("could not follow the champion; still serving version %s", self._version())

    def _version(self) -> str | None:
        return self.served.version if self.served is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        served = self.served
        if scope["path"] == "/health":
            body = {"model": self.settings.model_name, "version": self._version(), "online_cut": served and served.cut}
            await _respond(send, 200 if served is not None else 503, json.dumps(body))
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not hmac.compare_digest(given, self._expected):
            await _respond(send, 401, '{"message": "authentication required"}', [(b"www-authenticate", b"Basic")])
            return
        if served is None:
            await _respond(send, 503, '{"message": "no champion loaded yet"}')
            return
        await served.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Send, status: int, body: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    head = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body.encode()})


def serve(settings: Settings, host: str, port: int, refresh: float) -> None:
    """Serve the champion on ``host:port`` until stopped (``lead-scoring serve``), behind the login of
    LEAD_SCORING_SCORER_USERNAME / LEAD_SCORING_SCORER_PASSWORD; a missing one is a ConfigurationError."""
    app = ChampionApp(settings, os.environ.get(USERNAME_ENV, ""), os.environ.get(PASSWORD_ENV, ""), refresh)
    app.start()
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
