"""Users restoring, soft-deleting and hard-deleting the same sessions while the
purge runs, from several clients at once, against the real API and a real worker.

Most sessions start soft-deleted with deadlines scattered a few seconds either
side of the start, so that they fall due while the clients work on them; the
others start alive. Two clients per user pick that user's sessions at random.
A purge is sent every 300 ms. At the end, every session is whole or gone, the
tombstones are exactly the gone ones, and each tombstone agrees with what the
clients were told.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionLogEntry, JobRun
from interview_retention.sessions.models import InterviewSession
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import wait_until
from tests.factories import auth, make_session, make_user

pytestmark = pytest.mark.chaos

USERS = 3
SESSIONS_PER_USER = 40
CLIENTS_PER_USER = 2
SECONDS = 12
SESSIONS = "/api/interview/sessions"


@dataclass
class Call:
    session_id: str
    op: str
    status: int
    sent: datetime


def client_loop(base, token, ids, stop, seed) -> list[Call]:
    rng = random.Random(seed)
    calls = []
    # Hard deletes are rare, or no session would live long enough to race.
    ops = ["restore"] * 33 + ["soft_delete"] * 33 + ["get"] * 33 + ["delete"] * 2
    with httpx.Client(base_url=base, headers=auth(token), timeout=30) as http:
        while not stop.is_set():
            sid, op = rng.choice(ids), rng.choice(ops)
            sent = utcnow()
            if op == "restore":
                answer = http.post(f"{SESSIONS}/{sid}/restore")
            elif op == "soft_delete":
                # As the seed page's client sends it: JSON text, no JSON type.
                answer = http.patch(
                    f"{SESSIONS}/{sid}",
                    content='{"status": "DELETED"}',
                    headers={"Content-Type": "text/plain"},
                )
            elif op == "delete":
                answer = http.delete(f"{SESSIONS}/{sid}")
            else:
                answer = http.get(f"{SESSIONS}/{sid}")
            calls.append(Call(sid, op, answer.status_code, sent))
    return calls


@pytest.mark.timeout(180)
def test_users_racing_the_purge_leave_every_session_whole_or_gone(chaos):
    with chaos.db.factory() as db:
        owners = {}
        tokens = {}
        for _ in range(USERS):
            user, token = make_user(db)
            tokens[user.id] = token
            for _ in range(SESSIONS_PER_USER):
                owners[make_session(db, user).id] = user.id
        expected = rows_by_session(db, owners)
    api, base = chaos.api()
    worker = chaos.worker("worker", concurrency=2, PURGE_BATCH_SIZE=3)

    # Deadlines from 3 s before to 10 s after the clients start; a quarter of the
    # sessions start alive.
    rng = random.Random(7)
    start = utcnow()
    deadlines = {}
    with chaos.db.factory() as db:
        for sid in owners:
            if rng.random() < 0.25:
                continue
            deadlines[sid] = start + timedelta(seconds=rng.uniform(-3, 10))
            db.execute(
                update(InterviewSession)
                .where(InterviewSession.id == sid)
                .values(
                    status="DELETED",
                    status_before_deletion="EVALUATED",
                    deleted_at=start - timedelta(days=30),
                    permanent_delete_at=deadlines[sid],
                    deletion_reason="USER",
                )
            )
        db.commit()

    stop = threading.Event()
    by_user = defaultdict(list)
    for sid, uid in owners.items():
        by_user[uid].append(sid)
    with ThreadPoolExecutor(max_workers=USERS * CLIENTS_PER_USER) as pool:
        futures = [
            pool.submit(client_loop, base, tokens[uid], ids, stop, n * 100 + i)
            for n, (uid, ids) in enumerate(by_user.items())
            for i in range(CLIENTS_PER_USER)
        ]
        end = time.monotonic() + SECONDS
        purges = 0
        while time.monotonic() < end:
            chaos.send("purge")
            purges += 1
            time.sleep(0.3)
        stop.set()
        calls = [call for future in futures for call in future.result(timeout=60)]
    # A last purge once everyone stopped, so that whatever fell due is reclaimed.
    last = chaos.send("purge")
    wait_until(
        lambda: (
            chaos.db.scalar("SELECT count(*) FROM job_runs WHERE status = 'SUCCEEDED'")
            == purges + 1
        ),
        timeout=60,
        what="every purge to finish",
        watch=[worker, api],
    )

    statuses = defaultdict(int)
    for call in calls:
        statuses[call.status] += 1
    assert set(statuses) <= {200, 404, 409}, dict(statuses)
    assert len(calls) > 500
    with chaos.db.factory() as db:
        result = outcome(db, expected)
        tombstones = {t.session_id: t for t in db.scalars(select(DeletionLogEntry))}
        alive = {s.id: s for s in db.scalars(select(InterviewSession))}
        last_now = db.scalar(select(JobRun.result).where(JobRun.id == last))["now"]
    assert_whole_or_gone(result)
    assert set(tombstones) == result.gone

    deleted_ok = {c.session_id for c in calls if c.op == "delete" and c.status == 200}
    restored_ok = {c.session_id for c in calls if c.op == "restore" and c.status == 200}
    for sid in result.gone:
        tomb = tombstones[sid]
        if tomb.actor == "system:purge":
            # Purged only once due, and never after a restore the user was told of.
            assert sid in deadlines
            assert tomb.purged_at >= deadlines[sid]
            assert sid not in restored_ok
            assert sid not in deleted_ok
        else:
            assert tomb.actor == f"user:{owners[sid]}"
            assert sid in deleted_ok
    assert deleted_ok <= result.gone
    # Nothing due was left behind by the last purge.
    for session in alive.values():
        if session.permanent_delete_at is not None:
            assert session.permanent_delete_at > datetime.fromisoformat(last_now)
        assert (session.status == "DELETED") == (session.deleted_at is not None)
    purged = sum(t.actor == "system:purge" for t in tombstones.values())
    # Each kind of outcome happened, or the race was not run.
    assert purged > 0
    assert deleted_ok
    assert restored_ok & result.whole
    print(
        f"calls by status {dict(statuses)}, purge runs {purges + 1}, purged {purged},"
        f" hard-deleted {len(deleted_ok)}, restored {len(restored_ok)},"
        f" whole at the end {len(result.whole)}"
    )
