"""No token, nor its hash, ever reaches a log line.

The app runs under a real uvicorn server, with uvicorn's own logging
configuration (its access log included) and every log at DEBUG: structlog's JSON
lines and every stdlib logger, SQLAlchemy's statements and result rows among
them. Requests then use good,
bad, expired, malformed and other users' tokens, trip the failure limit and
crash a request, and the whole output is searched for each token and its hash.
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import structlog
import uvicorn
from sqlalchemy import update
from uvicorn.logging import AccessFormatter

from interview_retention.api.app import create_app
from interview_retention.clock import utcnow
from interview_retention.sessions import repository
from interview_retention.users.models import User
from tests.factories import auth, make_session, make_user

SESSIONS = "/api/interview/sessions"


class Output:
    """Everything every logger wrote while the server ran."""

    def __init__(self) -> None:
        self.structured = io.StringIO()
        self.stdlib = io.StringIO()

    @property
    def text(self) -> str:
        return self.structured.getvalue() + self.stdlib.getvalue()


@pytest.fixture
def logs() -> Iterator[Output]:
    output = Output()
    structlog_config = structlog.get_config()
    saved = {
        name: (logger, logger.level, logger.handlers[:], logger.propagate)
        for name in (
            "",
            "sqlalchemy.engine",
            "uvicorn",
            "uvicorn.error",
            "uvicorn.access",
        )
        for logger in [logging.getLogger(name)]
    }
    yield output
    structlog.configure(**structlog_config)
    for logger, level, handlers, propagate in saved.values():
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def _capture_stdlib(output: Output) -> None:
    """Send every stdlib logger to the output, after uvicorn configured its own."""
    plain = logging.StreamHandler(output.stdlib)
    plain.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    access = logging.StreamHandler(output.stdlib)
    access.setFormatter(
        AccessFormatter(
            '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            use_colors=False,
        )
    )
    logging.getLogger().addHandler(plain)
    logging.getLogger().setLevel(logging.DEBUG)
    # SQLAlchemy keeps its own loggers at WARNING unless told otherwise; an
    # operator who turns them up to see the SQL must not see hashes either.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    logging.getLogger("uvicorn").addHandler(plain)
    logging.getLogger("uvicorn.access").addHandler(access)


class Server:
    def __init__(self, app, output: Output) -> None:
        config = uvicorn.Config(app, log_level="debug", access_log=True)
        _capture_stdlib(output)
        self.server = uvicorn.Server(config)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        # A new connection per request: uvicorn closes one whose request crashed.
        self.client = httpx.Client(
            base_url=self.url, timeout=10, headers={"Connection": "close"}
        )
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def _forms(token: str) -> list[str]:
    """The ways a token could show up: itself, its secret part, its SHA-256."""
    return [
        token,
        token.removeprefix("irt_"),
        hashlib.sha256(token.encode()).hexdigest(),
    ]


def test_no_token_or_hash_reaches_any_log(
    settings, engine, cache, db, sent, logs, monkeypatch
):
    user, token = make_user(db)
    _, other_token = make_user(db)
    _, admin_token = make_user(db, admin=True)
    expired_user, expired_token = make_user(db)
    db.execute(
        update(User)
        .where(User.id == expired_user.id)
        .values(token_created_at=utcnow() - timedelta(days=365))
    )
    db.commit()
    session = make_session(db, user)
    app = create_app(
        settings.model_copy(
            update={"log_level": "DEBUG", "auth_failure_limit": "8/minute"}
        ),
        engine=engine,
        report_cache=cache,
    )
    # Keep the service's processors and renderer; only the stream is ours.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=logs.structured)
    )
    guessed = "irt_" + "x" * 43

    with Server(app, logs) as client:
        answers = [
            client.get(SESSIONS, headers=auth(token)).status_code,
            client.get(
                f"{SESSIONS}/{session.id}/report", headers=auth(token)
            ).status_code,
            client.get(
                f"{SESSIONS}/{session.id}", headers=auth(other_token)
            ).status_code,
            client.get("/api/admin/retention/backlog", headers=auth(token)).status_code,
            client.post("/api/admin/jobs/purge", headers=auth(admin_token)).status_code,
            client.get(
                SESSIONS, headers={"Authorization": f"bearer {token}"}
            ).status_code,
            client.get(SESSIONS, headers=auth(expired_token)).status_code,
            client.get(
                SESSIONS, headers={"Authorization": f"Token {token}"}
            ).status_code,
            client.get(
                SESSIONS, headers={"Authorization": f"Bearer  {token} x"}
            ).status_code,
        ]
        monkeypatch.setattr(repository, "list_owned", _crash)
        answers.append(client.get(SESSIONS, headers=auth(token)).status_code)
        for _ in range(6):
            answers.append(client.get(SESSIONS, headers=auth(guessed)).status_code)

    assert answers == [200, 200, 404, 403, 202, 200, 401, 401, 401, 500] + [401] * 5 + [
        429
    ]
    text = logs.text
    # The capture worked: each kind of line the service writes is there.
    assert '"event": "auth.rejected"' in text
    assert '"event": "auth.rate_limited"' in text
    assert f'"GET {SESSIONS} HTTP/1.1" 200' in text
    # The crash is logged with its traceback by the app's own last-resort handler.
    assert '"event": "request.failed"' in text
    assert "Traceback" in text or '"exception"' in text
    for secret in (token, other_token, admin_token, expired_token, guessed):
        for form in _forms(secret):
            assert form not in text


def _crash(*args, **kwargs):
    raise RuntimeError("the database went away")
