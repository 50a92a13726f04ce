"""The webhook channel against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from pydantic import SecretStr

from interview_retention.deletion.channels import WebhookChannel
from interview_retention.sessions.links import read_export_token
from tests.deletion.receivers import Received
from tests.deletion.support import (
    exists,
    notices_of,
    reload,
    run_notices,
    run_purge,
    run_retention,
)

SECRET = "a-webhook-secret-shared-by-both"
GRACE = timedelta(days=7)
BASE = timedelta(seconds=60)


@pytest.fixture
def hook_settings(settings, webhook):
    return settings.model_copy(
        update={
            "notice_channel": "webhook",
            "notice_webhook_url": webhook.url,
            "notice_webhook_secret": SecretStr(SECRET),
            "notice_webhook_timeout_seconds": 0.5,
            "public_base_url": "https://retention.example",
        }
    )


def _verified(request: Received) -> dict:
    """What a receiver does: check the signature over timestamp + "." + body, and
    that the timestamp is recent, before trusting the body."""
    timestamp = request.headers["X-Retention-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    signature = request.headers["X-Retention-Signature"]
    assert hmac.compare_digest(signature, "sha256=" + expected)
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(request.body)


def _run(factory, settings, now):
    return run_notices(factory, settings, now, WebhookChannel(settings))


def test_the_receiver_gets_a_signed_body_it_can_verify(
    db, factory, hook_settings, webhook, user, old_session, now
):
    run_retention(factory, hook_settings, now)

    result = _run(factory, hook_settings, now)

    [request] = webhook.requests
    body = _verified(request)
    [notice] = notices_of(db, old_session.id)
    assert result["sent"] == 1
    assert body == {
        "event": "session.deletion_scheduled",
        "noticeId": notice.id,
        "sessionId": old_session.id,
        "userId": user.id,
        "deleteAt": "2026-03-08T12:00:00Z",
        "exportUrl": body["exportUrl"],
        "attempt": 1,
    }
    grant = read_export_token(body["exportUrl"].rsplit("/", 1)[1], hook_settings)
    assert (grant.session_id, grant.user_id) == (old_session.id, user.id)
    assert request.headers["Idempotency-Key"] == str(notice.id)
    assert request.headers["Content-Type"] == "application/json"


def test_a_body_altered_on_the_way_fails_verification(
    factory, hook_settings, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)
    _run(factory, hook_settings, now)
    [request] = webhook.requests

    tampered = Received(request.headers, request.body.replace(b'"attempt":1', b"9"))

    with pytest.raises(AssertionError):
        _verified(tampered)


def test_the_body_carries_no_address_or_name(
    factory, hook_settings, webhook, user, old_session, now
):
    run_retention(factory, hook_settings, now)

    _run(factory, hook_settings, now)

    assert user.email.encode() not in webhook.requests[0].body


def test_accepted_webhook_starts_the_grace_period(
    db, factory, hook_settings, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)

    _run(factory, hook_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "SENT"
    assert reload(db, old_session.id).permanent_delete_at == now + GRACE


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_a_passing_refusal_is_retried_after_backoff(
    db, factory, hook_settings, webhook, old_session, now, status
):
    run_retention(factory, hook_settings, now)
    webhook.answer(status)

    result = _run(factory, hook_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert result["retried"] == 1
    assert notice.status == "RETRY"
    assert notice.last_error == f"webhook: HTTP {status}"
    assert notice.next_attempt_at == now + BASE
    assert reload(db, old_session.id).permanent_delete_at is None


def test_a_receiver_that_times_out_means_a_retry(
    db, factory, hook_settings, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)
    webhook.answer("timeout")

    result = _run(factory, hook_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert result["retried"] == 1
    assert notice.status == "RETRY"
    assert notice.last_error == "webhook: timed out"


def test_a_receiver_that_is_gone_means_a_retry(
    db, factory, hook_settings, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)
    webhook.server.shutdown()
    webhook.server.server_close()

    _run(factory, hook_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "RETRY"
    assert notice.last_error == "webhook: ConnectError"


def test_the_retry_after_backoff_is_the_same_request_again(
    db, factory, hook_settings, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)
    webhook.answer(500, "timeout")
    _run(factory, hook_settings, now)
    _run(factory, hook_settings, now + BASE - timedelta(seconds=1))

    _run(factory, hook_settings, now + BASE)
    _run(factory, hook_settings, now + BASE + 2 * BASE)

    assert len(webhook.requests) == 3
    assert [_verified(r)["attempt"] for r in webhook.requests] == [1, 2, 3]
    keys = {r.headers["Idempotency-Key"] for r in webhook.requests}
    assert len(keys) == 1
    [notice] = notices_of(db, old_session.id)
    assert keys == {str(notice.id)}
    assert notice.status == "SENT"
    assert notice.attempts == 3
    accepted = now + 3 * BASE
    assert reload(db, old_session.id).permanent_delete_at == accepted + GRACE


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_refusal_for_good_is_a_dead_letter_at_once(
    db, factory, hook_settings, webhook, old_session, now, status
):
    run_retention(factory, hook_settings, now)
    webhook.answer(status)

    result = _run(factory, hook_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert result["failed"] == 1
    assert notice.status == "FAILED"
    assert notice.attempts == 1
    assert notice.last_error == f"webhook: HTTP {status}"
    assert reload(db, old_session.id).permanent_delete_at is None


def test_a_dead_letter_is_never_sent_again_nor_its_session_deleted(
    db, factory, hook_settings, cache, webhook, old_session, now
):
    run_retention(factory, hook_settings, now)
    webhook.answer(400)
    _run(factory, hook_settings, now)

    _run(factory, hook_settings, now + timedelta(days=30))
    run_purge(factory, hook_settings, cache, now + timedelta(days=365))

    assert len(webhook.requests) == 1
    assert exists(db, old_session.id)


def test_a_notice_is_dead_lettered_after_max_attempts(
    db, factory, hook_settings, webhook, old_session, now
):
    limited = hook_settings.model_copy(update={"notice_max_attempts": 3})
    run_retention(factory, limited, now)
    webhook.answer(500, 503, 500)

    _run(factory, limited, now)
    _run(factory, limited, now + BASE)
    result = _run(factory, limited, now + 3 * BASE)

    [notice] = notices_of(db, old_session.id)
    assert result["failed"] == 1
    assert notice.status == "FAILED"
    assert notice.attempts == 3
    assert notice.last_error == "webhook: HTTP 500"
    assert len(webhook.requests) == 3
    assert reload(db, old_session.id).permanent_delete_at is None
