"""The notice channel failing for a while, in a real worker driven like beat.

The worker is the production app with its channel swapped for one that fails
while a flag file exists (tests/chaos/flaky_channel.py). The three jobs are sent
every second. While the channel is down, the notices are retried with backoff,
their sessions get no deadline and nothing the rule covers is deleted, while a
session its user deleted is purged as usual. Once the channel is back each
notice goes out once, and its session's deadline is a full grace period after it.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice
from interview_retention.sessions.models import InterviewSession
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Process, Stack, wait_until
from tests.deletion.support import make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = pytest.mark.chaos

RETENTION_DAYS = 90
GRACE_DAYS = 7


def drive(chaos: Stack, worker: Process, seconds: float) -> None:
    """Send the three jobs every second for `seconds`, as a fast beat would."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for job in ("retention", "notices", "purge"):
            chaos.send(job)
        assert worker.alive(), worker.tail()
        time.sleep(1)


def notices(chaos: Stack) -> list[DeletionNotice]:
    with chaos.db.factory() as db:
        return list(db.scalars(select(DeletionNotice)))


@pytest.mark.timeout(180)
def test_notice_channel_outage_delays_deletion_and_sends_once(chaos):
    now = utcnow()
    with chaos.db.factory() as db:
        user, _ = make_user(db)
        covered = [
            make_session(db, user, created_at=now - timedelta(days=100)).id
            for _ in range(10)
        ]
        deleted = [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=1)).id
            for _ in range(5)
        ]
        expected = rows_by_session(db, covered + deleted)
    down = chaos.folder / "channel-down"
    down.touch()
    worker = chaos.worker(
        "worker",
        app="tests.chaos.flaky_channel:celery_app",
        CHAOS_CHANNEL_DOWN=down,
        NOTICE_RETRY_BASE_SECONDS=1,
        NOTICE_MAX_ATTEMPTS=8,
        RETENTION_DAYS=RETENTION_DAYS,
        GRACE_DAYS=GRACE_DAYS,
    )

    drive(chaos, worker, seconds=8)
    during = notices(chaos)
    with chaos.db.factory() as db:
        outage = outcome(db, expected)
        deadlines = set(
            db.scalars(
                select(InterviewSession.permanent_delete_at).where(
                    InterviewSession.id.in_(covered)
                )
            )
        )
    down.unlink()
    recovered_at = utcnow()

    def all_sent() -> bool:
        drive(chaos, worker, seconds=1)
        return {n.status for n in notices(chaos)} == {"SENT"}

    wait_until(all_sent, timeout=90, what="every notice to go out", watch=[worker])
    drive(chaos, worker, seconds=3)

    # The outage: every notice failed at least twice and waits for a retry; no
    # deadline, so nothing the rule covers is deleted; the user's deletions are.
    assert sorted(n.session_id for n in during) == sorted(covered)
    assert {n.status for n in during} == {"RETRY"}
    assert min(n.attempts for n in during) >= 2
    assert deadlines == {None}
    assert_whole_or_gone(outage)
    assert outage.whole == set(covered)
    assert outage.gone == set(deleted)

    # The recovery: one delivery per notice, and a full grace period after it.
    delivered = Counter(e["session_id"] for e in worker.events("notice.delivered"))
    assert delivered == Counter(covered)
    after = notices(chaos)
    assert all(n.sent_at >= recovered_at for n in after)
    assert all(n.attempts > 2 for n in after)
    with chaos.db.factory() as db:
        final = outcome(db, expected)
        scheduled = db.execute(
            select(
                InterviewSession.id,
                InterviewSession.permanent_delete_at,
                InterviewSession.retention_notice_at,
            ).where(InterviewSession.id.in_(covered))
        ).all()
    assert_whole_or_gone(final)
    assert final.whole == set(covered)
    sent = {n.session_id: n.sent_at for n in after}
    for sid, deadline, noticed_at in scheduled:
        assert noticed_at == sent[sid]
        assert deadline == noticed_at + timedelta(days=GRACE_DAYS)
