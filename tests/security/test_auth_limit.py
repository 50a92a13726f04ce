"""Repeated bad tokens from one address are turned away: 429 (AUTH_FAILURE_LIMIT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import freezegun.api
import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time

from interview_retention.api import deps
from interview_retention.api.app import create_app
from tests.factories import auth, make_session, make_user
from tests.routes import served_operations
from tests.sessions.helpers import SESSIONS, assert_error, ok_data
from tests.snapshot import changed_tables, table_digests

BAD = {"Authorization": "Bearer irt_guessed-token"}
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LIMITED = "Too many failed authentications from this address"


def _app(settings, engine, cache, **overrides):
    overrides.setdefault("auth_failure_limit", "3/minute")
    return create_app(
        settings.model_copy(update=overrides), engine=engine, report_cache=cache
    )


def _client(app, address: str = "198.51.100.1") -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(address, 40000))


@pytest.fixture
def app(settings, engine, cache):
    return _app(settings, engine, cache)


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Every token the API looked up in the database."""
    seen: list[str] = []
    real = deps.user_for_token

    def spy(db, token):
        seen.append(token)
        return real(db, token)

    monkeypatch.setattr(deps, "user_for_token", spy)
    return seen


def _fail(client: TestClient, times: int) -> None:
    for _ in range(times):
        assert_error(client.get(SESSIONS, headers=BAD), 401)


def test_past_the_limit_even_a_good_token_is_429_and_is_not_read(app, db, lookups):
    _, token = make_user(db)
    client = _client(app)
    _fail(client, 3)

    response = client.get(SESSIONS, headers=auth(token))

    assert LIMITED in assert_error(response, 429)
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert lookups == [BAD["Authorization"].split()[1]] * 3


def test_every_protected_operation_is_429_and_changes_nothing(app, db, engine, sent):
    user, token = make_user(db)
    _, admin = make_user(db, admin=True)
    session = make_session(db, user)
    client = _client(app)
    _fail(client, 3)
    before = table_digests(engine)

    for op in served_operations():
        # No user token: the health checks, and /metrics with its own token.
        if op.label in ("GET /healthz", "GET /readyz", "GET /metrics"):
            continue
        headers = auth(admin if op.path.startswith("/api/admin/") else token)
        url = op.url(sessionId=session.id, taskId="x", job="purge")

        response = client.request(op.method, url, json={}, headers=headers)

        assert response.status_code == 429, op.label
        assert LIMITED in response.json()["message"], op.label
    assert changed_tables(before, table_digests(engine)) == []
    assert sent == []
    assert ok_data(client.get("/healthz"))["status"] == "ok"


def test_successes_are_not_counted(app, db):
    _, token = make_user(db)
    client = _client(app)
    for _ in range(10):
        ok_data(client.get(SESSIONS, headers=auth(token)))

    _fail(client, 2)

    ok_data(client.get(SESSIONS, headers=auth(token)))


def test_a_request_without_a_token_is_not_counted(app, db):
    _, token = make_user(db)
    client = _client(app)
    for _ in range(10):
        assert_error(client.get(SESSIONS), 401)

    ok_data(client.get(SESSIONS, headers=auth(token)))


@pytest.mark.parametrize("storage", ["redis", "memory"])
def test_the_window_moves_on(settings, engine, cache, db, monkeypatch, storage):
    _, token = make_user(db)
    redis_url = settings.redis_url if storage == "redis" else None
    client = _client(_app(settings, engine, cache, redis_url=redis_url))
    # The API answers from a worker thread, and freezegun hands real time to any
    # caller with `threading` a few frames up; here every caller must see the
    # frozen clock, the limiter's storage and its Retry-After alike.
    monkeypatch.setattr(freezegun.api, "call_stack_inspection_limit", 0)
    with freeze_time(T0, real_asyncio=True) as clock:
        _fail(client, 3)
        clock.tick(timedelta(seconds=45))
        waiting = client.get(SESSIONS, headers=auth(token))
        # The storages disagree on the very instant a failure leaves the window
        # (Redis counts it once more); a second later both have let it go.
        clock.tick(timedelta(seconds=16))
        after = client.get(SESSIONS, headers=auth(token))

    assert_error(waiting, 429)
    assert waiting.headers["retry-after"] == "15"
    ok_data(after)


def test_other_addresses_are_not_held_back(app, db):
    _, token = make_user(db)
    _fail(_client(app, "198.51.100.1"), 3)

    response = _client(app, "198.51.100.2").get(SESSIONS, headers=auth(token))

    ok_data(response)


def test_processes_share_the_counts_through_redis(
    settings, engine, cache, db, redis_client
):
    _, token = make_user(db)
    first = _client(_app(settings, engine, cache))
    second = _client(_app(settings, engine, cache))
    _fail(first, 3)

    response = second.get(SESSIONS, headers=auth(token))

    assert_error(response, 429)
    keys = list(redis_client.scan_iter(match=f"{settings.auth_limit_key_prefix}:*"))
    assert keys
    assert all(b"irt_" not in key for key in keys)


def test_without_redis_each_process_counts_in_memory(settings, engine, cache, db):
    _, token = make_user(db)
    app = _app(settings, engine, cache, redis_url=None)
    client = _client(app)
    _fail(client, 3)

    assert_error(client.get(SESSIONS, headers=auth(token)), 429)
    ok_data(
        _client(_app(settings, engine, cache, redis_url=None)).get(
            SESSIONS, headers=auth(token)
        )
    )


def test_an_unreachable_counter_locks_nobody_out(settings, engine, cache, db, capsys):
    # Port 1 on the loopback refuses connections at once.
    _, token = make_user(db)
    app = _app(settings, engine, cache, redis_url="redis://127.0.0.1:1/0")
    client = _client(app)

    _fail(client, 5)
    response = client.get(SESSIONS, headers=auth(token))

    ok_data(response)
    assert "auth_limit.unavailable" in capsys.readouterr().err
