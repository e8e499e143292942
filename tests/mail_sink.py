"""A local SMTP sink on the loopback (aiosmtpd) that keeps every mail it receives, for the alert tests."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The subject and every text part, decoded (the SMTP hook sends the body base64-encoded)."""
        parts = [self.subject]
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def mail_sink() -> Iterator[tuple[list[Received], str]]:
    """Run a sink on 127.0.0.1 and a free port; yields (the mails received, the smtp_default connection as JSON)."""
    from aiosmtpd.controller import Controller

    handler = _Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"from_email": "leadscore@example.test", "disable_tls": True, "disable_ssl": True, "timeout": 10},
    }
    try:
        yield handler.received, json.dumps(connection)
    finally:
        controller.stop()
