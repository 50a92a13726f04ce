"""Real receivers for the notice channels: an SMTP server and an HTTP endpoint.

Both listen on a free port of 127.0.0.1 for one test and record what they got.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class MailHandler:
    """Keeps every message it is given; refuses recipients in `refuse` with 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = message_from_bytes(envelope.content, policy=default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"


def free_port() -> int:
    """A port nothing listens on now; the system picks it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_mail_server() -> tuple[Controller, MailHandler]:
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers each request with the next planned answer (200 once none is left).

    A planned answer is an HTTP status, or "timeout": wait `slow_seconds` and
    then answer 200, by which time the client has given up. While `down` is set,
    every request is answered with that status instead, and nothing is planned.
    """

    server: ThreadingHTTPServer
    plan: deque[int | str] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    slow_seconds: float = 2.0
    down: int | None = None
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/retention"

    def answer(self, *planned: int | str) -> None:
        self.plan.extend(planned)


def start_webhook_receiver() -> WebhookReceiver:
    receiver: WebhookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.requests.append(Received(dict(self.headers.items()), body))
            if receiver.down is not None:
                planned: int | str = receiver.down
            else:
                planned = receiver.plan.popleft() if receiver.plan else 200
            if planned == "timeout":
                time.sleep(receiver.slow_seconds)
                planned = 200
            receiver.statuses.append(int(planned))
            self.send_response(int(planned))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = WebhookReceiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
