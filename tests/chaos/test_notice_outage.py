"""The notice receiver failing for a while, in a real worker driven like beat.

The worker is the production app with NOTICE_CHANNEL=webhook, posting to a real
HTTP receiver in the test process that answers 503 while it is "down". The three
jobs are sent every second. While the receiver is down, the notices are retried
with backoff, their sessions get no deadline and nothing the rule covers is
deleted, while a session its user deleted is purged as usual. Once the receiver
is back each notice is accepted once, every attempt carried the same idempotency
key, and its session's deadline is a full grace period after it.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice
from interview_retention.sessions.models import InterviewSession
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Process, Stack, wait_until
from tests.deletion.receivers import start_webhook_receiver
from tests.deletion.support import make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = pytest.mark.chaos

RETENTION_DAYS = 90
GRACE_DAYS = 7
SECRET = "chaos-webhook-secret-0123456789"


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
    receiver = start_webhook_receiver()
    receiver.down = 503
    worker = chaos.worker(
        "worker",
        NOTICE_CHANNEL="webhook",
        NOTICE_WEBHOOK_URL=receiver.url,
        NOTICE_WEBHOOK_SECRET=SECRET,
        NOTICE_WEBHOOK_TIMEOUT_SECONDS=5,
        NOTICE_RETRY_BASE_SECONDS=1,
        NOTICE_MAX_ATTEMPTS=8,
        RETENTION_DAYS=RETENTION_DAYS,
        GRACE_DAYS=GRACE_DAYS,
    )

    try:
        _outage_then_recovery(chaos, worker, receiver, covered, deleted, expected)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def _outage_then_recovery(chaos, worker, receiver, covered, deleted, expected):
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
    receiver.down = None
    recovered_at = utcnow()

    def all_sent() -> bool:
        drive(chaos, worker, seconds=1)
        return {n.status for n in notices(chaos)} == {"SENT"}

    wait_until(all_sent, timeout=90, what="every notice to go out", watch=[worker])
    drive(chaos, worker, seconds=3)

    # The outage: every notice failed at least twice and waits for a retry (or is
    # being sent again at that instant); no deadline, so nothing the rule covers
    # is deleted; the user's deletions are.
    assert sorted(n.session_id for n in during) == sorted(covered)
    assert {n.status for n in during} <= {"RETRY", "SENDING"}
    assert min(n.attempts for n in during) >= 2
    assert deadlines == {None}
    assert_whole_or_gone(outage)
    assert outage.whole == set(covered)
    assert outage.gone == set(deleted)

    # The recovery: one accepted request per notice, the same idempotency key on
    # every attempt of a notice, and a full grace period after it.
    answered = list(zip(receiver.requests, receiver.statuses, strict=True))
    bodies = [(json.loads(r.body), r.headers, status) for r, status in answered]
    delivered = Counter(
        body["sessionId"] for body, _, status in bodies if status == 200
    )
    assert delivered == Counter(covered)
    keys = defaultdict(set)
    for body, headers, _ in bodies:
        keys[body["noticeId"]].add(headers["Idempotency-Key"])
    assert all(found == {str(notice)} for notice, found in keys.items())
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
