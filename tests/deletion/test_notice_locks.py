"""A slow channel holds no lock: owners and admins do not wait for it (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from interview_retention.api.app import create_app
from tests.deletion.support import notices_of, reload, run_notices, run_retention
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import path

WAIT = 10


class SlowChannel:
    """Accepts a notice only when the test lets it, as a mail server that stalls."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def send(self, message) -> None:
        self.started.set()
        self.release.wait(WAIT * 3)


@pytest.fixture
def stalled(pg_db, pg_factory, pg_settings, pg_engine, pg_cache, now):
    """A covered session whose notice the channel is in the middle of sending."""
    owner, token = make_user(pg_db)
    _, admin_token = make_user(pg_db, admin=True)
    session = make_session(pg_db, owner, created_at=now - timedelta(days=100))
    run_retention(pg_factory, pg_settings, now)
    channel = SlowChannel()
    job = threading.Thread(
        target=run_notices, args=(pg_factory, pg_settings, now, channel)
    )
    job.start()
    assert channel.started.wait(WAIT)
    client = TestClient(
        create_app(pg_settings, engine=pg_engine, report_cache=pg_cache),
        raise_server_exceptions=False,
    )
    yield {
        "session": session,
        "client": client,
        "token": token,
        "admin": admin_token,
        "channel": channel,
        "job": job,
    }
    channel.release.set()
    job.join(WAIT)


def _within_wait(call) -> object:
    """The response of `call`, which must come while the channel is still sending."""
    answers: list[object] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    thread.join(WAIT)
    assert answers, "the request waited for the notice being sent"
    return answers[0]


def test_the_owner_deletes_while_the_notice_is_being_sent(pg_db, stalled):
    session, client = stalled["session"], stalled["client"]

    response = _within_wait(
        lambda: client.patch(
            path(session.id),
            json={"status": "DELETED"},
            headers=auth(stalled["token"]),
        )
    )

    assert response.status_code == 200
    assert reload(pg_db, session.id).status == "DELETED"


def test_an_admin_holds_while_the_notice_is_being_sent(pg_db, stalled):
    session, client = stalled["session"], stalled["client"]

    response = _within_wait(
        lambda: client.put(
            f"/api/admin/sessions/{session.id}/legal-hold",
            json={"reason": "Case 2026-17"},
            headers=auth(stalled["admin"]),
        )
    )

    assert response.status_code == 200
    assert reload(pg_db, session.id).legal_hold is True


def test_the_record_after_a_delete_meanwhile_sets_no_retention_deadline(pg_db, stalled):
    session, client, job = stalled["session"], stalled["client"], stalled["job"]
    response = _within_wait(
        lambda: client.patch(
            path(session.id), json={"status": "DELETED"}, headers=auth(stalled["token"])
        )
    )

    stalled["channel"].release.set()
    job.join(WAIT)

    assert response.status_code == 200
    assert not job.is_alive()
    [notice] = notices_of(pg_db, session.id)
    assert notice.status == "SENT"
    after = reload(pg_db, session.id)
    assert after.deletion_reason == "USER"
    assert after.retention_notice_at is None
    assert after.permanent_delete_at == after.deleted_at + timedelta(days=30)
