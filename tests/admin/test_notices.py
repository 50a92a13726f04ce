"""Admins see dead-lettered notices and put them back in the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from interview_retention.deletion.models import DeletionNotice
from tests.deletion.support import FailingChannel, run_notices, run_retention
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import T0, assert_error, at, ok_data

NOTICES = "/api/admin/notices"


def _notice(db, notice_id: int) -> DeletionNotice:
    query = select(DeletionNotice).where(DeletionNotice.id == notice_id)
    notice = db.scalars(query.execution_options(populate_existing=True)).one()
    db.rollback()
    return notice


def _dead_letter(db, user, *, attempts: int = 8, error: str = "webhook: HTTP 410"):
    session = make_session(db, user, created_at=T0 - timedelta(days=100))
    notice = DeletionNotice(
        session_id=session.id,
        cycle=0,
        status="FAILED",
        attempts=attempts,
        next_attempt_at=T0 - timedelta(hours=1),
        last_error=error,
    )
    db.add(notice)
    db.commit()
    return notice


@pytest.fixture
def admin_token(db) -> str:
    return make_user(db, admin=True)[1]


@pytest.fixture
def owner(db):
    return make_user(db)[0]


def test_lists_dead_letters_oldest_first(client, db, admin_token, owner):
    first = _dead_letter(db, owner)
    second = _dead_letter(db, owner, attempts=1, error="smtp: recipient refused (550)")
    make_session(db, owner)

    data = ok_data(
        client.get(NOTICES, params={"status": "FAILED"}, headers=auth(admin_token))
    )

    assert [n["id"] for n in data["items"]] == [first.id, second.id]
    assert data["total"] == 2
    item = data["items"][1]
    assert item["status"] == "FAILED"
    assert item["attempts"] == 1
    assert item["lastError"] == "smtp: recipient refused (550)"
    assert item["sessionId"] == second.session_id
    assert at(item["nextAttemptAt"]) == T0 - timedelta(hours=1)


def test_lists_pages(client, db, admin_token, owner):
    ids = [_dead_letter(db, owner).id for _ in range(3)]

    data = ok_data(
        client.get(
            NOTICES,
            params={"status": "FAILED", "page": 2, "pageSize": 2},
            headers=auth(admin_token),
        )
    )

    assert [n["id"] for n in data["items"]] == ids[2:]
    assert (data["total"], data["page"], data["pageSize"]) == (3, 2, 2)


def test_filters_by_state(client, db, admin_token, owner):
    _dead_letter(db, owner)

    data = ok_data(
        client.get(NOTICES, params={"status": "SENT"}, headers=auth(admin_token))
    )

    assert data == {"items": [], "total": 0, "page": 1, "pageSize": 50}


def test_an_unknown_state_is_refused(client, admin_token):
    response = client.get(NOTICES, params={"status": "LOST"}, headers=auth(admin_token))

    assert_error(response, 422)


def test_a_user_may_not_list_notices(client, db, owner):
    _, token = make_user(db)

    assert_error(client.get(NOTICES, headers=auth(token)), 403)


def test_retry_puts_a_dead_letter_back_in_the_queue(client, db, admin_token, owner):
    notice = _dead_letter(db, owner)

    with freeze_time(T0):
        response = client.post(
            f"{NOTICES}/{notice.id}/retry", headers=auth(admin_token)
        )

    data = ok_data(response)
    assert data["status"] == "PENDING"
    stored = _notice(db, notice.id)
    assert (stored.status, stored.attempts, stored.last_error) == ("PENDING", 0, None)
    assert stored.next_attempt_at == T0


def test_a_retried_dead_letter_is_sent_by_the_next_run(
    client, db, factory, settings, admin_token, owner
):
    session = make_session(db, owner, created_at=T0 - timedelta(days=100))
    run_retention(factory, settings, T0)
    limited = settings.model_copy(update={"notice_max_attempts": 1})
    run_notices(factory, limited, T0, FailingChannel())
    [notice] = db.scalars(select(DeletionNotice)).all()
    db.rollback()
    assert notice.status == "FAILED"

    with freeze_time(T0 + timedelta(hours=1)):
        client.post(f"{NOTICES}/{notice.id}/retry", headers=auth(admin_token))
    result = run_notices(factory, settings, T0 + timedelta(hours=1))

    assert result["sent"] == 1
    assert _notice(db, notice.id).status == "SENT"
    assert session.id == notice.session_id


@pytest.mark.parametrize("status", ["PENDING", "RETRY", "SENDING", "SENT"])
def test_retry_of_a_notice_that_is_no_dead_letter_is_a_conflict(
    client, db, admin_token, owner, status
):
    notice = _dead_letter(db, owner)
    notice.status = status
    db.commit()

    response = client.post(f"{NOTICES}/{notice.id}/retry", headers=auth(admin_token))

    assert_error(response, 409)
    assert _notice(db, notice.id).status == status


@pytest.mark.parametrize("notice_id", ["999999", str(2**63 - 1)])
def test_retry_of_an_unknown_notice_is_not_found(client, admin_token, notice_id):
    response = client.post(f"{NOTICES}/{notice_id}/retry", headers=auth(admin_token))

    assert_error(response, 404, "Notice not found")


@pytest.mark.parametrize("notice_id", ["0", "abc", str(2**63)])
def test_retry_of_a_notice_id_that_cannot_be_is_refused(client, admin_token, notice_id):
    response = client.post(f"{NOTICES}/{notice_id}/retry", headers=auth(admin_token))

    assert_error(response, 422)


def test_a_user_may_not_retry_a_notice(client, db, owner):
    notice = _dead_letter(db, owner)
    _, token = make_user(db)

    response = client.post(f"{NOTICES}/{notice.id}/retry", headers=auth(token))

    assert_error(response, 403)
    assert _notice(db, notice.id).status == "FAILED"
