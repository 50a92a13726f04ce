"""The owner's hard delete: the session and its children now, a tombstone stays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.deletion import service
from interview_retention.errors import Conflict, NotFound
from tests.deletion.support import (
    child_rows,
    exists,
    make_soft_deleted,
    tombstones,
)
from tests.factories import make_session, make_user


def test_hard_delete_removes_session_and_children(db, cache, user, now):
    session = make_session(db, user)

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.commit()

    assert not exists(db, session.id)
    assert set(child_rows(db, session.id).values()) == {0}


def test_hard_delete_writes_tombstone(db, cache, user, now):
    session = make_session(db, user)

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.commit()

    [tombstone] = tombstones(db)
    assert tombstone.session_id == session.id
    assert tombstone.reason == "USER"
    assert tombstone.actor == f"user:{user.id}"
    assert tombstone.requested_at == now
    assert tombstone.purged_at == now
    assert tombstone.task_id is None
    assert tombstone.rows_removed["answers"] == 3


def test_hard_delete_evicts_report_cache(db, cache, user, now):
    session = make_session(db, user)
    cache.put(session.id, {"summary": "Good session"})

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.commit()

    assert cache.get(session.id) is None
    assert tombstones(db)[0].cache_keys_evicted == 1


def test_hard_delete_rolled_back_keeps_everything(db, cache, user, now):
    session = make_session(db, user)

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.rollback()

    assert exists(db, session.id)
    assert child_rows(db, session.id)["questions"] == 3
    assert tombstones(db) == []


def test_hard_delete_of_held_session_is_refused(db, cache, user, now):
    session = make_session(db, user, legal_hold=True)

    with pytest.raises(Conflict):
        service.hard_delete(
            db, user_id=user.id, session_id=session.id, now=now, cache=cache
        )
    db.rollback()

    assert exists(db, session.id)


def test_hard_delete_of_other_users_session_is_not_found(db, cache, user, now):
    session = make_session(db, user)
    stranger, _ = make_user(db)

    with pytest.raises(NotFound):
        service.hard_delete(
            db, user_id=stranger.id, session_id=session.id, now=now, cache=cache
        )
    db.rollback()

    assert exists(db, session.id)


def test_hard_delete_past_deadline_is_not_found(db, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(seconds=1))

    with pytest.raises(NotFound):
        service.hard_delete(
            db, user_id=user.id, session_id=session.id, now=now, cache=cache
        )


def test_hard_delete_of_soft_deleted_session_inside_window(db, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now + timedelta(days=1))

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.commit()

    assert not exists(db, session.id)
    assert tombstones(db)[0].requested_at == session.deleted_at


def test_hard_delete_during_the_grace_period_is_requested_now(db, cache, user, now):
    session = make_session(
        db,
        user,
        created_at=now - timedelta(days=100),
        retention_notice_at=now - timedelta(days=2),
        permanent_delete_at=now + timedelta(days=5),
        deletion_reason="RETENTION",
    )

    service.hard_delete(
        db, user_id=user.id, session_id=session.id, now=now, cache=cache
    )
    db.commit()

    [tombstone] = tombstones(db)
    assert (tombstone.reason, tombstone.requested_at) == ("USER", now)
