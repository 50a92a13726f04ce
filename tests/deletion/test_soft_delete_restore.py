"""Soft delete and restore rules of `sessions.service` that deletion depends on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.errors import Conflict
from interview_retention.sessions import service as sessions
from tests.deletion.support import reload, schedule_by_retention
from tests.factories import make_session

RECOVERY = timedelta(days=30)
GRACE = timedelta(days=7)


def test_soft_delete_starts_recovery_window(db, settings, user, now):
    session = make_session(db, user, status="COMPLETED")

    sessions.soft_delete(session, now=now, settings=settings)
    db.commit()

    deleted = reload(db, session.id)
    assert deleted.status == "DELETED"
    assert deleted.status_before_deletion == "COMPLETED"
    assert deleted.deleted_at == now
    assert deleted.permanent_delete_at == now + RECOVERY
    assert deleted.deletion_reason == "USER"


def test_repeated_soft_delete_does_not_move_deadline(db, settings, user, now):
    session = make_session(db, user)
    sessions.soft_delete(session, now=now, settings=settings)
    db.commit()

    sessions.soft_delete(session, now=now + timedelta(days=5), settings=settings)
    db.commit()

    deleted = reload(db, session.id)
    assert deleted.deleted_at == now
    assert deleted.permanent_delete_at == now + RECOVERY
    assert deleted.status_before_deletion == "EVALUATED"


def test_soft_delete_of_retention_scheduled_session_keeps_earlier_deadline(
    db, factory, settings, user, now
):
    session = make_session(db, user, created_at=now - timedelta(days=100))
    schedule_by_retention(factory, settings, now)
    scheduled = reload(db, session.id)

    sessions.soft_delete(scheduled, now=now + timedelta(days=1), settings=settings)
    db.commit()

    deleted = reload(db, session.id)
    assert deleted.status == "DELETED"
    assert deleted.permanent_delete_at == now + GRACE
    assert deleted.deletion_reason == "RETENTION"


def test_restore_brings_back_previous_status(db, settings, user, now):
    session = make_session(db, user, status="IN_PROGRESS")
    sessions.soft_delete(session, now=now, settings=settings)
    db.commit()

    sessions.restore(session, now=now + timedelta(days=1), settings=settings)
    db.commit()

    restored = reload(db, session.id)
    assert restored.status == "IN_PROGRESS"
    assert restored.status_before_deletion is None
    assert restored.deleted_at is None
    assert restored.permanent_delete_at is None
    assert restored.deletion_reason is None


def test_restore_of_retention_scheduled_session_restores_retention_deadline(
    db, factory, settings, user, now
):
    session = make_session(db, user, created_at=now - timedelta(days=100))
    schedule_by_retention(factory, settings, now)
    scheduled = reload(db, session.id)
    sessions.soft_delete(scheduled, now=now + timedelta(days=1), settings=settings)
    db.commit()

    sessions.restore(scheduled, now=now + timedelta(days=2), settings=settings)
    db.commit()

    restored = reload(db, session.id)
    assert restored.status == "EVALUATED"
    assert restored.deleted_at is None
    assert restored.permanent_delete_at == now + GRACE
    assert restored.deletion_reason == "RETENTION"


def test_restore_of_session_not_deleted_is_refused(db, settings, user, now):
    session = make_session(db, user)

    with pytest.raises(Conflict):
        sessions.restore(session, now=now, settings=settings)
