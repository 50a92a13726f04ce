"""The retention rule: old finished sessions get one pending-deletion notice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.deletion.support import notices_of, run_retention
from tests.factories import make_session

RETENTION = timedelta(days=90)


@pytest.mark.parametrize("status", ["COMPLETED", "EVALUATED"])
def test_finished_session_older_than_retention_gets_notice(
    db, factory, settings, user, now, status
):
    session = make_session(
        db, user, status=status, created_at=now - RETENTION - timedelta(hours=1)
    )

    result = run_retention(factory, settings, now)

    [notice] = notices_of(db, session.id)
    assert notice.status == "PENDING"
    assert notice.cycle == 0
    assert notice.attempts == 0
    assert notice.next_attempt_at == now
    assert result["queued"] == 1


def test_session_one_second_past_retention_gets_notice(
    db, factory, settings, user, now
):
    session = make_session(db, user, created_at=now - RETENTION - timedelta(seconds=1))

    run_retention(factory, settings, now)

    assert len(notices_of(db, session.id)) == 1


def test_session_exactly_retention_old_gets_no_notice(db, factory, settings, user, now):
    session = make_session(db, user, created_at=now - RETENTION)

    result = run_retention(factory, settings, now)

    assert notices_of(db, session.id) == []
    assert result["queued"] == 0


def test_session_younger_than_retention_gets_no_notice(
    db, factory, settings, user, now
):
    session = make_session(db, user, created_at=now - RETENTION + timedelta(hours=1))

    run_retention(factory, settings, now)

    assert notices_of(db, session.id) == []


@pytest.mark.parametrize("status", ["CREATED", "IN_PROGRESS"])
def test_unfinished_session_gets_no_notice(db, factory, settings, user, now, status):
    session = make_session(
        db, user, status=status, created_at=now - timedelta(days=400)
    )

    run_retention(factory, settings, now)

    assert notices_of(db, session.id) == []


def test_soft_deleted_session_gets_no_notice(db, factory, settings, user, now):
    session = make_session(
        db,
        user,
        status="DELETED",
        status_before_deletion="EVALUATED",
        created_at=now - timedelta(days=400),
        deleted_at=now - timedelta(days=1),
        permanent_delete_at=now + timedelta(days=29),
        deletion_reason="USER",
    )

    run_retention(factory, settings, now)

    assert notices_of(db, session.id) == []


def test_held_session_gets_no_notice(db, factory, settings, user, now):
    session = make_session(
        db, user, created_at=now - timedelta(days=400), legal_hold=True
    )

    run_retention(factory, settings, now)

    assert notices_of(db, session.id) == []


def test_configured_statuses_decide_coverage(db, factory, settings, user, now):
    session = make_session(
        db, user, status="IN_PROGRESS", created_at=now - timedelta(days=400)
    )
    wider = settings.model_copy(
        update={"retention_statuses": ("IN_PROGRESS", "COMPLETED", "EVALUATED")}
    )

    run_retention(factory, wider, now)

    assert len(notices_of(db, session.id)) == 1


def test_second_retention_run_queues_nothing_more(db, factory, settings, user, now):
    session = make_session(db, user, created_at=now - timedelta(days=100))
    run_retention(factory, settings, now)

    result = run_retention(factory, settings, now + timedelta(hours=1))

    assert result["queued"] == 0
    assert len(notices_of(db, session.id)) == 1


def test_retention_queues_every_covered_session_in_batches(
    db, factory, settings, user, now
):
    ids = [
        make_session(
            db, user, created_at=now - timedelta(days=100 + i), children=False
        ).id
        for i in range(5)
    ]
    small = settings.model_copy(update={"retention_batch_size": 2})

    result = run_retention(factory, small, now)

    assert result == {"batches": 3, "queued": 5}
    assert all(len(notices_of(db, sid)) == 1 for sid in ids)
