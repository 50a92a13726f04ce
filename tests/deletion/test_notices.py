"""The notices job: a sent notice starts the grace period; a failed one delays it."""

from __future__ import annotations

from datetime import timedelta

from interview_retention.sessions import service as sessions
from tests.deletion.support import (
    FailingChannel,
    RecordingChannel,
    exists,
    notices_of,
    reload,
    run_notices,
    run_purge,
    run_retention,
    schedule_by_retention,
    tombstones,
)
from tests.factories import make_session

GRACE = timedelta(days=7)


def test_sending_notice_starts_grace_period(db, factory, settings, old_session, now):
    run_retention(factory, settings, now)
    channel = RecordingChannel()

    result = run_notices(factory, settings, now, channel)

    session = reload(db, old_session.id)
    assert session.retention_notice_at == now
    assert session.permanent_delete_at == now + GRACE
    assert session.deletion_reason == "RETENTION"
    assert session.status == "EVALUATED"
    [notice] = notices_of(db, old_session.id)
    assert notice.status == "SENT"
    assert notice.sent_at == now
    assert notice.attempts == 1
    assert [m.session_id for m in channel.sent] == [old_session.id]
    assert channel.sent[0].delete_at == now + GRACE
    assert result["sent"] == 1


def test_grace_period_starts_when_channel_accepts(
    db, factory, settings, old_session, now
):
    run_retention(factory, settings, now)
    accepted = now + timedelta(minutes=3)

    run_notices(factory, settings, now, sent_at=accepted)

    session = reload(db, old_session.id)
    assert session.retention_notice_at == accepted
    assert session.permanent_delete_at == accepted + GRACE


def test_purge_waits_one_second_before_grace_period_ends(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)

    run_purge(factory, settings, cache, now + GRACE - timedelta(seconds=1))

    assert exists(db, old_session.id)


def test_purge_takes_session_when_grace_period_ends(
    db, factory, settings, cache, old_session, now
):
    schedule_by_retention(factory, settings, now)

    run_purge(factory, settings, cache, now + GRACE)

    assert not exists(db, old_session.id)
    [tombstone] = tombstones(db)
    assert tombstone.reason == "RETENTION"
    assert tombstone.requested_at == now


def test_queued_notice_alone_never_makes_session_due(
    db, factory, settings, cache, old_session, now
):
    run_retention(factory, settings, now)

    run_purge(factory, settings, cache, now + timedelta(days=365))

    assert exists(db, old_session.id)
    assert reload(db, old_session.id).permanent_delete_at is None


def test_failed_send_is_retried_with_backoff(db, factory, settings, old_session, now):
    run_retention(factory, settings, now)
    channel = FailingChannel()

    result = run_notices(factory, settings, now, channel)

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "RETRY"
    assert notice.attempts == 1
    assert notice.next_attempt_at == now + timedelta(seconds=60)
    assert notice.last_error == "mail server unreachable"
    assert channel.calls == 1
    assert result["retried"] == 1


def test_failed_send_leaves_session_without_deadline(
    db, factory, settings, cache, old_session, now
):
    run_retention(factory, settings, now)
    run_notices(factory, settings, now, FailingChannel())

    run_purge(factory, settings, cache, now + timedelta(days=30))

    session = reload(db, old_session.id)
    assert session is not None
    assert session.permanent_delete_at is None
    assert session.retention_notice_at is None


def test_retry_waits_for_its_backoff(db, factory, settings, old_session, now):
    run_retention(factory, settings, now)
    run_notices(factory, settings, now, FailingChannel())
    channel = FailingChannel()

    run_notices(factory, settings, now + timedelta(seconds=59), channel)

    assert channel.calls == 0
    assert notices_of(db, old_session.id)[0].attempts == 1


def test_backoff_doubles_with_each_attempt(db, factory, settings, old_session, now):
    run_retention(factory, settings, now)
    run_notices(factory, settings, now, FailingChannel())
    second = now + timedelta(seconds=60)

    run_notices(factory, settings, second, FailingChannel())

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "RETRY"
    assert notice.attempts == 2
    assert notice.next_attempt_at == second + timedelta(seconds=120)


def test_notice_fails_after_max_attempts(db, factory, settings, old_session, now):
    limited = settings.model_copy(update={"notice_max_attempts": 2})
    run_retention(factory, limited, now)
    run_notices(factory, limited, now, FailingChannel())

    result = run_notices(
        factory, limited, now + timedelta(seconds=60), FailingChannel()
    )

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "FAILED"
    assert notice.attempts == 2
    assert result["failed"] == 1
    assert reload(db, old_session.id).permanent_delete_at is None


def test_failed_notice_is_not_sent_again(db, factory, settings, old_session, now):
    limited = settings.model_copy(update={"notice_max_attempts": 1})
    run_retention(factory, limited, now)
    run_notices(factory, limited, now, FailingChannel())
    channel = RecordingChannel()

    run_notices(factory, limited, now + timedelta(days=1), channel)

    assert channel.sent == []
    assert notices_of(db, old_session.id)[0].status == "FAILED"


def test_recovered_channel_sends_and_starts_grace_then(
    db, factory, settings, old_session, now
):
    run_retention(factory, settings, now)
    run_notices(factory, settings, now, FailingChannel())
    recovered = now + timedelta(hours=1)

    run_notices(factory, settings, recovered, RecordingChannel())

    session = reload(db, old_session.id)
    assert session.retention_notice_at == recovered
    assert session.permanent_delete_at == recovered + GRACE
    [notice] = notices_of(db, old_session.id)
    assert notice.status == "SENT"
    assert notice.attempts == 2
    assert notice.last_error is None


def test_purge_counts_grace_from_late_send(
    db, factory, settings, cache, old_session, now
):
    run_retention(factory, settings, now)
    run_notices(factory, settings, now, FailingChannel())
    recovered = now + timedelta(hours=1)
    run_notices(factory, settings, recovered, RecordingChannel())

    run_purge(factory, settings, cache, now + GRACE)

    assert exists(db, old_session.id)


def test_notice_for_session_soft_deleted_meanwhile_is_cancelled(
    db, factory, settings, old_session, now
):
    run_retention(factory, settings, now)
    sessions.soft_delete(old_session, now=now, settings=settings)
    db.commit()
    channel = RecordingChannel()

    result = run_notices(factory, settings, now + timedelta(minutes=5), channel)

    [notice] = notices_of(db, old_session.id)
    assert notice.status == "CANCELLED"
    assert channel.sent == []
    assert result["cancelled"] == 1
    session = reload(db, old_session.id)
    assert session.permanent_delete_at == now + timedelta(days=30)
    assert session.deletion_reason == "USER"


def test_notice_for_session_held_meanwhile_is_cancelled(
    db, factory, settings, old_session, now
):
    run_retention(factory, settings, now)
    # The hold arrives without the service, so the job's own re-check must catch it.
    old_session.legal_hold = True
    db.commit()
    channel = RecordingChannel()

    run_notices(factory, settings, now + timedelta(minutes=5), channel)

    assert notices_of(db, old_session.id)[0].status == "CANCELLED"
    assert channel.sent == []
    assert reload(db, old_session.id).permanent_delete_at is None


def test_session_restored_after_cancelled_notice_gets_new_notice(
    db, factory, settings, old_session, now
):
    run_retention(factory, settings, now)
    sessions.soft_delete(old_session, now=now, settings=settings)
    db.commit()
    run_notices(factory, settings, now + timedelta(minutes=5))
    sessions.restore(old_session, now=now + timedelta(hours=1), settings=settings)
    db.commit()

    run_retention(factory, settings, now + timedelta(hours=2))

    notices = notices_of(db, old_session.id)
    assert [(n.cycle, n.status) for n in notices] == [(0, "CANCELLED"), (1, "PENDING")]


class _BrokenForOne:
    """Raises something unexpected for one session and accepts the others."""

    def __init__(self, broken_session_id: str) -> None:
        self.broken = broken_session_id
        self.sent: list[str] = []

    def send(self, message) -> None:
        if message.session_id == self.broken:
            raise RuntimeError("template for ada@example.com failed")
        self.sent.append(message.session_id)


def test_an_unexpected_send_error_fails_one_notice_not_the_batch(
    db, factory, settings, user, now
):
    broken = make_session(db, user, created_at=now - timedelta(days=100))
    fine = make_session(db, user, created_at=now - timedelta(days=101))
    run_retention(factory, settings, now)
    channel = _BrokenForOne(broken.id)

    result = run_notices(factory, settings, now, channel)

    assert (result["sent"], result["retried"]) == (1, 1)
    assert channel.sent == [fine.id]
    [notice] = notices_of(db, broken.id)
    assert (notice.status, notice.attempts) == ("RETRY", 1)
    assert notice.last_error == "RuntimeError"
    assert reload(db, broken.id).permanent_delete_at is None
    assert reload(db, fine.id).permanent_delete_at == now + timedelta(days=7)
