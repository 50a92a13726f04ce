"""Beats started by mistake, on the production schedule code.

Two lines of defence keep a job's effect to one per schedule, and the scenario
puts both to work in one minute, with every job scheduled every minute (the cron
settings the service reads):

1. RedBeat's lock. Two beats on the same BEAT_KEY_PREFIX: one holds the lock and
   sends the minute's jobs; the other waits and sends nothing, and when the
   leader stops it takes the lock over without sending that minute again (the
   schedule, with each entry's last run, lives in Redis).
2. Idempotent jobs. A third beat on another BEAT_KEY_PREFIX (as during a deploy
   that changes the prefix while the old beat still runs) has a lock of its own
   and sends the minute's jobs too. Two workers with three pool processes each
   take the six messages at once, and every job is slowed by a trigger so that
   its two runs overlap. The effect must be that of one run of each job: each
   due session purged once, each covered session noticed once, each notice
   delivered once.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice, JobRun
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Process, wait_until
from tests.deletion.support import add_notice, make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = pytest.mark.chaos

EVERY_MINUTE = "* * * * *"
JOBS = ("retention", "notices", "purge")
LOCKED = "beat: Acquired lock"


def sends(beat: Process) -> list[tuple[datetime, str]]:
    """When this beat sent which beat entry."""
    found = []
    for line in beat.text().splitlines():
        if "Sending due task " in line and line.startswith("["):
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").replace(
                tzinfo=UTC
            )
            entry = line.split("Sending due task ", 1)[1].split(" ", 1)[0]
            found.append((stamp, entry))
    return found


def sent_by(beat: Process) -> Counter[str]:
    """Jobs this beat sent, by beat entry."""
    return Counter(entry for _, entry in sends(beat))


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
        # Beat ticks every second, so a takeover shows within a few.
        BEAT_LOCK_TIMEOUT_SECONDS="5",
    )
    workers = chaos.workers(["worker-a", "worker-b"], concurrency=3)
    # Every beat must be up before the same minute boundary, so none starts late
    # in a minute.
    if datetime.now(UTC).second > 40:
        time.sleep(61 - datetime.now(UTC).second)
    pair = [chaos.beat("beat-1"), chaos.beat("beat-2")]
    other = chaos.beat("beat-other", BEAT_KEY_PREFIX=f"{chaos.prefix}other-beat:")
    beats = [*pair, other]

    leader = wait_until(
        lambda: next((b for b in pair if LOCKED in b.text()), None),
        timeout=30,
        what="one of the pair to take the lock",
        watch=beats,
    )
    follower = next(b for b in pair if b is not leader)
    # The leader and the beat on another lock send the three jobs at the next
    # minute; the follower sends nothing while the leader holds the lock.
    wait_until(
        lambda: len(sent_by(leader)) == len(sent_by(other)) == 3,
        timeout=80,
        what="the leader and the other beat to send the minute's jobs",
        watch=beats + workers,
        every=0.5,
    )
    other.stop()
    minute = max(stamp for stamp, _ in sends(leader)).replace(second=0, microsecond=0)
    assert LOCKED not in follower.text()
    assert sends(follower) == []
    # The leader stops cleanly and hands over the lock: the follower takes it and,
    # reading the schedule from Redis, does not send this minute's jobs again.
    leader.stop()
    wait_until(
        lambda: LOCKED in follower.text(),
        timeout=15,
        what="the follower to take the lock over",
        watch=[follower],
    )
    time.sleep(3)
    follower.stop()
    assert [
        entry
        for stamp, entry in sends(follower)
        if stamp.replace(second=0, microsecond=0) == minute
    ] == []
    # Only the leader's and the other beat's messages are out: six in all.
    sent = sent_by(leader) + sent_by(other)

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
