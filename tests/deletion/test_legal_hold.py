"""Legal holds: a held session survives every job; lifting one never rushes deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.deletion import service
from interview_retention.errors import NotFound
from interview_retention.sessions import service as sessions
from tests.deletion.support import (
    PERIODS,
    RecordingChannel,
    child_rows,
    exists,
    hold,
    lift,
    make_soft_deleted,
    notices_of,
    reload,
    run_notices,
    run_purge,
    run_retention,
    schedule_by_retention,
    tombstones,
)

GRACE = timedelta(days=7)


def test_held_session_survives_retention(db, factory, settings, old_session, now):
    hold(db, old_session.id, now)

    result = run_retention(factory, settings, now + timedelta(days=1))

    assert result["queued"] == 0
    assert notices_of(db, old_session.id) == []


def test_held_session_past_deadline_survives_purge(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now + timedelta(days=1))
    hold(db, session.id, now)

    run_purge(factory, settings, cache, now + timedelta(days=60))

    assert exists(db, session.id)
    assert child_rows(db, session.id)["answers"] == 3
    assert tombstones(db) == []


def test_hold_on_retention_scheduled_session_calls_off_the_schedule(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)
    hold(db, old_session.id, now + timedelta(days=1))

    run_purge(factory, settings, cache, now + timedelta(days=60))

    held = reload(db, old_session.id)
    assert held is not None
    assert (held.permanent_delete_at, held.retention_notice_at) == (None, None)
    assert held.notice_cycle == 1


def test_hold_cancels_queued_notice(db, factory, settings, old_session, now):
    run_retention(factory, settings, now)
    hold(db, old_session.id, now)
    channel = RecordingChannel()

    run_notices(factory, settings, now + timedelta(minutes=5), channel)

    assert [n.status for n in notices_of(db, old_session.id)] == ["CANCELLED"]
    assert channel.sent == []
    assert reload(db, old_session.id).permanent_delete_at is None


def test_hold_clears_retention_deadline_and_advances_cycle(
    db, factory, settings, old_session, now
):
    schedule_by_retention(factory, settings, now)
    held_at = now + timedelta(days=1)

    hold(db, old_session.id, held_at)

    session = reload(db, old_session.id)
    assert session.legal_hold is True
    assert session.legal_hold_reason == "litigation"
    assert session.legal_hold_at == held_at
    assert session.permanent_delete_at is None
    assert session.retention_notice_at is None
    assert session.deletion_reason is None
    assert session.notice_cycle == 1


def test_hold_on_user_soft_deleted_session_keeps_deadline(db, user, now):
    deadline = now + timedelta(days=10)
    session = make_soft_deleted(db, user, deadline=deadline)

    hold(db, session.id, now)

    held = reload(db, session.id)
    assert held.legal_hold is True
    assert held.permanent_delete_at == deadline
    assert held.deletion_reason == "USER"


def test_hold_on_session_past_deadline_is_not_found(db, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(seconds=1))

    with pytest.raises(NotFound):
        service.set_legal_hold(
            db,
            session_id=session.id,
            reason="late",
            actor="admin:t",
            now=now,
            settings=PERIODS,
        )


def test_hold_on_unknown_session_is_not_found(db, now):
    with pytest.raises(NotFound):
        service.set_legal_hold(
            db,
            session_id="no-such-id",
            reason="x",
            actor="admin:t",
            now=now,
            settings=PERIODS,
        )


def test_lifting_hold_queues_notice_of_new_cycle(
    db, factory, settings, old_session, now
):
    schedule_by_retention(factory, settings, now)
    hold(db, old_session.id, now + timedelta(days=1))
    lifted = now + timedelta(days=40)
    lift(db, old_session.id, lifted, settings)

    run_retention(factory, settings, lifted)

    notices = notices_of(db, old_session.id)
    assert [(n.cycle, n.status) for n in notices] == [(0, "SENT"), (1, "PENDING")]
    assert reload(db, old_session.id).legal_hold is False


def test_deletion_after_lifted_hold_waits_full_grace_period(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)
    hold(db, old_session.id, now + timedelta(days=1))
    lifted = now + timedelta(days=40)
    lift(db, old_session.id, lifted, settings)
    schedule_by_retention(factory, settings, lifted)

    run_purge(factory, settings, cache, lifted + GRACE - timedelta(seconds=1))

    session = reload(db, old_session.id)
    assert session is not None
    assert session.permanent_delete_at == lifted + GRACE
    assert session.retention_notice_at == lifted


def test_session_is_purged_after_grace_following_lifted_hold(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)
    hold(db, old_session.id, now + timedelta(days=1))
    lifted = now + timedelta(days=40)
    lift(db, old_session.id, lifted, settings)
    schedule_by_retention(factory, settings, lifted)

    run_purge(factory, settings, cache, lifted + GRACE)

    assert not exists(db, old_session.id)


def test_lifting_hold_past_user_deadline_pushes_deadline(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now + timedelta(days=1))
    hold(db, session.id, now)
    lifted = now + timedelta(days=60)

    lift(db, session.id, lifted, settings)
    run_purge(factory, settings, cache, lifted + GRACE - timedelta(seconds=1))

    lifted_session = reload(db, session.id)
    assert lifted_session is not None
    assert lifted_session.permanent_delete_at == lifted + GRACE
    assert lifted_session.legal_hold is False


def test_lifting_hold_keeps_later_user_deadline(db, settings, user, now):
    deadline = now + timedelta(days=20)
    session = make_soft_deleted(db, user, deadline=deadline)
    hold(db, session.id, now)

    lift(db, session.id, now + timedelta(days=1), settings)

    assert reload(db, session.id).permanent_delete_at == deadline


def test_lifting_hold_on_unheld_session_changes_nothing(db, settings, user, now):
    session = make_soft_deleted(db, user, deadline=now + timedelta(days=1))

    lift(db, session.id, now + timedelta(hours=1), settings)

    unchanged = reload(db, session.id)
    assert unchanged.permanent_delete_at == now + timedelta(days=1)
    assert unchanged.updated_at == session.updated_at


def test_restore_after_lifted_hold_waits_for_a_new_notice(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)
    sessions.soft_delete(old_session, now=now + timedelta(days=1), settings=settings)
    db.commit()
    hold(db, old_session.id, now + timedelta(days=2))
    lifted = now + timedelta(days=40)
    lift(db, old_session.id, lifted, settings)
    restored_at = lifted + timedelta(days=1)
    session = reload(db, old_session.id)
    sessions.restore(session, now=restored_at, settings=settings)
    db.commit()

    run_purge(factory, settings, cache, restored_at + GRACE)
    unscheduled = reload(db, old_session.id)
    schedule_by_retention(factory, settings, restored_at + GRACE)

    assert unscheduled is not None
    assert unscheduled.status == "EVALUATED"
    assert unscheduled.permanent_delete_at is None
    assert reload(db, old_session.id).permanent_delete_at == restored_at + 2 * GRACE
    assert [n.status for n in notices_of(db, old_session.id)] == ["SENT", "SENT"]


def test_hold_on_a_noticed_session_the_user_deleted_keeps_only_the_users_window(
    db, factory, settings, old_session, now
):
    schedule_by_retention(factory, settings, now)
    deleted_at = now + timedelta(days=1)
    sessions.soft_delete(reload(db, old_session.id), now=deleted_at, settings=settings)
    db.commit()
    kept_rule_deadline = reload(db, old_session.id).permanent_delete_at

    hold(db, old_session.id, now + timedelta(days=2))

    held = reload(db, old_session.id)
    assert kept_rule_deadline == now + GRACE
    assert held.retention_notice_at is None
    assert held.deletion_reason == "USER"
    assert held.permanent_delete_at == deleted_at + timedelta(days=30)


def test_holding_a_held_session_again_changes_nothing(db, old_session, now):
    hold(db, old_session.id, now)
    first = reload(db, old_session.id)
    held_at, cycle, reason = (
        first.legal_hold_at,
        first.notice_cycle,
        first.legal_hold_reason,
    )

    service.set_legal_hold(
        db,
        session_id=old_session.id,
        reason="other",
        actor="admin:t",
        now=now + timedelta(days=1),
        settings=PERIODS,
    )
    db.commit()

    again = reload(db, old_session.id)
    assert (again.legal_hold_at, again.notice_cycle) == (held_at, cycle)
    assert again.legal_hold_reason == reason
