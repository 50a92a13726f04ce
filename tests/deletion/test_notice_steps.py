"""Claim, send, record: what each step leaves when a worker dies or the session
changes between them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.deletion import service
from interview_retention.sessions import service as sessions
from tests.deletion.support import (
    PERIODS,
    RecordingChannel,
    hold,
    notices_of,
    reload,
    run_notices,
    run_retention,
)

GRACE = timedelta(days=7)
LEASE = timedelta(seconds=900)


def _claim_and_send(factory, settings, now, channel, *, clock=None):
    """A worker that claims and sends, then dies before it records anything."""
    clock = clock or (lambda: now)
    with factory() as db:
        claim = service.claim_notices(db, now=now, settings=settings, clock=clock)
        db.commit()
    outcomes = service.deliver(claim, channel=channel, clock=clock, settings=settings)
    return claim, outcomes


def _record(factory, settings, now, outcomes):
    with factory() as db:
        result = service.record_notices(db, outcomes, now=now, settings=settings)
        db.commit()
    return result


@pytest.fixture
def queued(factory, settings, old_session, now):
    run_retention(factory, settings, now)
    return old_session


def test_a_worker_lost_after_sending_leaves_the_notice_sending(
    db, factory, settings, queued, now
):
    channel = RecordingChannel()

    _claim_and_send(factory, settings, now, channel)

    [notice] = notices_of(db, queued.id)
    assert len(channel.sent) == 1
    assert notice.status == "SENDING"
    assert notice.attempts == 1
    assert notice.next_attempt_at == now + LEASE
    assert reload(db, queued.id).permanent_delete_at is None


def test_a_sending_notice_is_not_sent_again_before_its_lease_ends(
    db, factory, settings, queued, now
):
    _claim_and_send(factory, settings, now, RecordingChannel())
    again = RecordingChannel()

    result = run_notices(factory, settings, now + LEASE - timedelta(seconds=1), again)

    assert again.sent == []
    assert result["sent"] == 0
    assert notices_of(db, queued.id)[0].status == "SENDING"


def test_a_sending_notice_is_sent_again_once_and_recorded_after_its_lease(
    db, factory, settings, queued, now
):
    first = RecordingChannel()
    _claim_and_send(factory, settings, now, first)
    again = RecordingChannel()
    later = now + LEASE

    run_notices(factory, settings, later, again)
    run_notices(factory, settings, later + timedelta(minutes=5), again)

    [notice] = notices_of(db, queued.id)
    assert [m.notice_id for m in again.sent] == [notice.id]
    assert again.sent[0].notice_id == first.sent[0].notice_id
    assert notice.status == "SENT"
    assert notice.attempts == 2
    session = reload(db, queued.id)
    assert session.permanent_delete_at == later + GRACE
    assert session.permanent_delete_at >= first.sent[0].delete_at


def test_the_deadline_is_never_earlier_than_the_message_says(
    db, factory, settings, queued, now
):
    channel = RecordingChannel()
    accepted = now + timedelta(minutes=2)
    ticks = iter([now, now, accepted])
    _, outcomes = _claim_and_send(
        factory, settings, now, channel, clock=lambda: next(ticks)
    )

    _record(factory, settings, now, outcomes)

    [message] = channel.sent
    session = reload(db, queued.id)
    assert message.delete_at == now + GRACE
    assert session.permanent_delete_at == accepted + GRACE
    assert session.permanent_delete_at > message.delete_at


def test_a_late_record_of_a_superseded_attempt_changes_nothing(
    db, factory, settings, queued, now
):
    _, lost = _claim_and_send(factory, settings, now, RecordingChannel())
    later = now + LEASE
    run_notices(factory, settings, later)

    _record(factory, settings, now + timedelta(days=1), lost)

    [notice] = notices_of(db, queued.id)
    assert notice.status == "SENT"
    assert notice.sent_at == later
    assert reload(db, queued.id).permanent_delete_at == later + GRACE


def test_a_session_held_while_sending_gets_no_deadline(
    db, factory, settings, queued, now
):
    _, outcomes = _claim_and_send(factory, settings, now, RecordingChannel())
    hold(db, queued.id, now + timedelta(seconds=1))

    result = _record(factory, settings, now, outcomes)

    [notice] = notices_of(db, queued.id)
    assert result.sent == 1
    assert notice.status == "SENT"
    session = reload(db, queued.id)
    assert session.permanent_delete_at is None
    assert session.retention_notice_at is None
    assert session.notice_cycle == notice.cycle + 1


def test_a_session_soft_deleted_while_sending_keeps_its_own_deadline(
    db, factory, settings, queued, now
):
    _, outcomes = _claim_and_send(factory, settings, now, RecordingChannel())
    session = reload(db, queued.id)
    sessions.soft_delete(session, now=now, settings=PERIODS)
    db.commit()

    _record(factory, settings, now, outcomes)

    [notice] = notices_of(db, queued.id)
    assert notice.status == "SENT"
    session = reload(db, queued.id)
    assert session.deletion_reason == "USER"
    assert session.permanent_delete_at == now + timedelta(days=30)
    assert session.retention_notice_at is None
    # Restored later, the session is noticed afresh in a cycle of its own.
    assert session.notice_cycle == notice.cycle + 1


def test_a_session_deleted_while_sending_leaves_nothing_to_record(
    db, factory, settings, queued, now, cache
):
    _, outcomes = _claim_and_send(factory, settings, now, RecordingChannel())
    service.hard_delete(
        db, user_id=queued.user_id, session_id=queued.id, now=now, cache=cache
    )
    db.commit()

    result = _record(factory, settings, now, outcomes)

    assert result.sent == 0
    assert notices_of(db, queued.id) == []


def test_a_send_not_started_in_the_first_half_of_the_lease_is_released(
    db, factory, settings, queued, now
):
    channel = RecordingChannel()
    # The claim reads the clock once; by the send, half the lease has passed.
    ticks = iter([now, now + LEASE / 2 + timedelta(seconds=1)])
    _, outcomes = _claim_and_send(
        factory, settings, now, channel, clock=lambda: next(ticks)
    )

    _record(factory, settings, now, outcomes)

    [notice] = notices_of(db, queued.id)
    assert channel.sent == []
    assert notice.status == "PENDING"
    assert notice.attempts == 0
    assert notice.next_attempt_at == now


def test_a_permanent_refusal_is_a_dead_letter_at_once(
    db, factory, settings, queued, now
):
    class Gone:
        def send(self, message):
            raise service.NoticeDeliveryError("webhook: HTTP 410", permanent=True)

    result = run_notices(factory, settings, now, Gone())

    [notice] = notices_of(db, queued.id)
    assert result["failed"] == 1
    assert notice.status == "FAILED"
    assert notice.attempts == 1
    assert notice.last_error == "webhook: HTTP 410"


def test_a_notice_being_sent_counts_as_pending_in_the_backlog(
    db, factory, settings, queued, now
):
    _claim_and_send(factory, settings, now, RecordingChannel())

    backlog = service.backlog(db, now=now, overdue_after=settings.overdue_after)

    assert (backlog.notices_pending, backlog.notices_failed) == (1, 0)
