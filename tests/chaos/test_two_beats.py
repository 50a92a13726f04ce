"""Two beat processes started by mistake, on the production schedule code.

Both beats run every job every minute (the cron settings the service reads), and
two workers with three pool processes each take the six messages of one minute
at once. Every job is slowed by a trigger so that its two runs overlap. The
effect must be that of one run of each job: each due session purged once, each
covered session noticed once, each notice delivered once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice, JobRun
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import wait_until
from tests.deletion.support import add_notice, make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = pytest.mark.chaos

EVERY_MINUTE = "* * * * *"
JOBS = ("retention", "notices", "purge")


def sent_by(beat) -> Counter[str]:
    """Jobs this beat sent, by beat entry."""
    return Counter(
        line.split("Sending due task ", 1)[1].split(" ", 1)[0]
        for line in beat.text().splitlines()
        if "Sending due task " in line
    )


@pytest.mark.timeout(240)
def test_two_beats_have_the_effect_of_one(chaos):
    now = utcnow()
    with chaos.db.factory() as db:
        user, _ = make_user(db)
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=i + 1)).id
            for i in range(18)
        ]
        covered = [
            make_session(db, user, created_at=now - timedelta(days=100 + i)).id
            for i in range(12)
        ]
        queued = []
        for i in range(10):
            session = make_session(db, user, created_at=now - timedelta(days=200 + i))
            add_notice(db, session, next_attempt_at=now - timedelta(minutes=5))
            queued.append(session.id)
        expected = rows_by_session(db, due + covered + queued)
    # Each job sleeps a little in every row it writes, so that the two runs of
    # the minute are at work at the same time.
    chaos.db.pause("deletion_log", event="INSERT", at=tuple(range(1, 40)), seconds=0.4)
    chaos.db.pause(
        "deletion_notices", event="INSERT", at=tuple(range(1, 30)), seconds=0.4
    )
    chaos.db.pause(
        "deletion_notices", event="UPDATE", at=tuple(range(1, 40)), seconds=0.4
    )
    chaos.env.update(
        RETENTION_SCHEDULE=EVERY_MINUTE,
        NOTICES_SCHEDULE=EVERY_MINUTE,
        PURGE_SCHEDULE=EVERY_MINUTE,
        PURGE_BATCH_SIZE="3",
        NOTICE_BATCH_SIZE="2",
        RETENTION_BATCH_SIZE="3",
    )
    workers = chaos.workers(["worker-a", "worker-b"], concurrency=3)
    beats = [chaos.beat("beat-1"), chaos.beat("beat-2")]

    # Both beats send the three jobs at the next minute; then they are stopped,
    # so that exactly one minute's worth of messages is out.
    wait_until(
        lambda: all(len(sent_by(beat)) == 3 for beat in beats),
        timeout=80,
        what="both beats to send the minute's jobs",
        watch=beats + workers,
        every=0.5,
    )
    for beat in beats:
        beat.stop()
    sent = sum((sent_by(beat) for beat in beats), Counter())

    def runs() -> list[JobRun]:
        with chaos.db.factory() as db:
            return list(db.scalars(select(JobRun)))

    wait_until(
        lambda: [r.status for r in runs()] == ["SUCCEEDED"] * sum(sent.values()),
        timeout=90,
        what="every run to finish",
        watch=workers,
    )

    assert set(sent.values()) == {2}, sent
    finished = runs()
    assert Counter(r.job for r in finished) == dict.fromkeys(JOBS, 2)
    for job in JOBS:
        first, second = sorted(
            (r for r in finished if r.job == job), key=lambda r: r.started_at
        )
        assert second.started_at < first.finished_at, f"the {job} runs did not overlap"
    with chaos.db.factory() as db:
        result = outcome(db, expected)
        notices = db.execute(
            select(DeletionNotice.session_id, DeletionNotice.status)
        ).all()
    assert_whole_or_gone(result)
    assert result.gone == set(due)
    assert set(result.tombstones) == set(due)
    assert sum(r.result["purged"] for r in finished if r.job == "purge") == len(due)
    # One notice per covered session, queued once between the two retention runs.
    assert Counter(sid for sid, _ in notices) == Counter(covered + queued)
    assert sum(r.result["queued"] for r in finished if r.job == "retention") == 12
    # Each notice the channel accepted went out once.
    delivered = Counter(
        e["session_id"] for w in workers for e in w.events("notice.delivered")
    )
    assert set(delivered.values()) == {1}
    assert set(delivered) == {sid for sid, status in notices if status == "SENT"}
    assert set(queued) <= set(delivered)
