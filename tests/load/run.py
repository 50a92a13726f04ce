"""`make load`: a bounded Locust run on loopback, then every row checked.

Starts, on a database and a Redis server of its own (tests/chaos/harness.py),
the API (uvicorn), a Celery worker with two pool processes, and a driver that
sends the three jobs every two seconds, as a fast beat would. Each Locust user is
one API user with seeded sessions: some alive, some retention-old, some already
due, some falling due during the run. After the run a last purge reclaims what
fell due, and the database is compared with what the users believe:

- every session a user believes exists is there, in the status it believes,
  with all its rows; every session it deleted is gone, with its tombstone;
- every seeded session that fell due and was not restored in time is gone;
- no other session is left, no child row lost its session, and the tombstones
  are exactly the sessions that are gone, one each;
- no answer was a 5xx, none differed from what the user's belief predicted, and
  no job run failed.

Prints the figures and writes them to --out as JSON; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionLogEntry, JobRun
from interview_retention.deletion.service import session_child_tables
from interview_retention.sessions.models import InterviewSession
from tests.chaos.conftest import rows_by_session
from tests.chaos.harness import BIN, ROOT, Stack, stack, wait_until
from tests.deletion.support import seed_sessions
from tests.factories import make_user

LIVE, OLD, DUE_NOW, DUE_DURING = 4, 3, 5, 10


def seed(chaos: Stack, users: int, seconds: int) -> tuple[list[dict], dict]:
    """Accounts for the Locust users, and what the database was given."""
    now = utcnow()
    accounts, seeded = [], {"dueNow": [], "dueDuring": {}, "rows": {}}
    with chaos.db.factory() as db:
        for _ in range(users):
            user, token = make_user(db)
            live = seed_sessions(db, user, LIVE, created_at=now - timedelta(days=1))
            old = seed_sessions(db, user, OLD, created_at=now - timedelta(days=100))
            deleted = {
                "status": "DELETED",
                "status_before_deletion": "EVALUATED",
                "deleted_at": now - timedelta(days=30),
                "deletion_reason": "USER",
            }
            due_now = seed_sessions(
                db,
                user,
                DUE_NOW,
                created_at=now - timedelta(days=40),
                permanent_delete_at=now - timedelta(minutes=5),
                **deleted,
            )
            during = seed_sessions(
                db, user, DUE_DURING, created_at=now - timedelta(days=40), **deleted
            )
            # Deadlines spread over the run, so that restores race the purge.
            for n, sid in enumerate(during):
                deadline = now + timedelta(seconds=5 + (seconds * n) / DUE_DURING)
                db.execute(
                    update(InterviewSession)
                    .where(InterviewSession.id == sid)
                    .values(permanent_delete_at=deadline)
                )
                seeded["dueDuring"][sid] = deadline.isoformat()
            db.commit()
            seeded["dueNow"] += due_now
            accounts.append(
                {
                    "userId": user.id,
                    "token": token,
                    "live": dict.fromkeys(live + old, "EVALUATED"),
                    "dueDuringRun": during,
                }
            )
        every = [sid for a in accounts for sid in a["live"]]
        every += seeded["dueNow"] + list(seeded["dueDuring"])
        seeded["rows"] = rows_by_session(db, every)
    return accounts, seeded


def drive_jobs(chaos: Stack, stop: threading.Event, every: float = 2.0) -> None:
    while not stop.wait(every):
        for job in ("retention", "notices", "purge"):
            chaos.send(job)


def verify(chaos: Stack, state: dict, seeded: dict) -> tuple[list[str], dict]:
    """Compare the users' beliefs with the database; the problems and the counts."""
    problems: list[str] = []
    expected_rows = seeded["rows"]
    with chaos.db.factory() as db:
        sessions = {
            s.id: s
            for s in db.scalars(
                select(InterviewSession).execution_options(populate_existing=True)
            )
        }
        tombstones = Counter(db.scalars(select(DeletionLogEntry.session_id)))
        actors = dict(
            db.execute(
                select(DeletionLogEntry.session_id, DeletionLogEntry.actor)
            ).all()
        )
        known = set(expected_rows)
        for user in state["users"]:
            known |= set(user["alive"]) | set(user["deleted"])
        rows = rows_by_session(db, known | set(sessions))
        orphans = {
            table.name: db.scalar(
                select(func.count())
                .select_from(table)
                .where(table.c.session_id.not_in(select(InterviewSession.id)))
            )
            for table in session_child_tables()
        }
        runs = Counter(
            (job, status)
            for job, status in db.execute(select(JobRun.job, JobRun.status)).all()
        )
        errors = list(
            db.scalars(select(JobRun.error).where(JobRun.status != "SUCCEEDED"))
        )

    def content(sid: str) -> dict[str, int]:
        return {k: n for k, n in rows[sid].items() if k != "deletion_notices"}

    believed_alive: set[str] = set()
    for user in state["users"]:
        uid = user["userId"]
        for sid, status in user["alive"].items():
            believed_alive.add(sid)
            found = sessions.get(sid)
            if found is None:
                problems.append(f"lost: {sid} of {uid} is believed to exist")
                continue
            if found.user_id != uid or (found.status == "DELETED") != (
                status == "DELETED"
            ):
                problems.append(f"{sid}: status {found.status}, believed {status}")
            if sid in expected_rows:
                want = {
                    k: n
                    for k, n in expected_rows[sid].items()
                    if k != "deletion_notices"
                }
            else:
                want = dict.fromkeys(content(sid), 0) | {
                    "interview_sessions": 1,
                    "questions": user["questions"][sid],
                }
            if content(sid) != want:
                problems.append(f"{sid}: rows {content(sid)}, expected {want}")
        for sid in user["deleted"]:
            if sid in sessions or actors.get(sid) != f"user:{uid}":
                problems.append(f"{sid}: deleted by {uid} but {actors.get(sid)}")
        for sid in user["expired"] + user["pending"]:
            if sid in sessions or actors.get(sid) != "system:purge":
                problems.append(f"{sid}: fell due but is not purged")
    for sid in seeded["dueNow"]:
        if sid in sessions or actors.get(sid) != "system:purge":
            problems.append(f"{sid}: was due at the start but is not purged")

    leaked = set(sessions) - believed_alive
    if leaked:
        problems.append(
            f"{len(leaked)} sessions nobody believes exist: {sorted(leaked)[:5]}"
        )
    gone = known - set(sessions)
    if set(tombstones) != gone:
        problems.append(
            f"tombstones differ from the gone sessions: {len(set(tombstones) ^ gone)}"
        )
    if any(n > 1 for n in tombstones.values()):
        problems.append("duplicate tombstones")
    if any(orphans.values()):
        problems.append(f"orphan child rows: {orphans}")
    failed_runs = sum(n for (_, status), n in runs.items() if status != "SUCCEEDED")
    if failed_runs:
        problems.append(f"{failed_runs} job runs did not succeed: {errors}")

    counts = {
        "sessionsChecked": len(known),
        "sessionsAlive": len(sessions),
        "sessionsGone": len(gone),
        "childRowsChecked": sum(
            n
            for sid in known
            for k, n in rows[sid].items()
            if k != "interview_sessions"
        )
        + sum(sum(v.values()) - 1 for sid, v in expected_rows.items() if sid in gone),
        "tombstones": sum(tombstones.values()),
        "purgedBySystem": sum(a == "system:purge" for a in actors.values()),
        "deletedByUsers": sum(a.startswith("user:") for a in actors.values()),
        "orphanRows": sum(orphans.values()),
        "jobRuns": {f"{job} {status}": n for (job, status), n in sorted(runs.items())},
    }
    return problems, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "load" / "last.json")
    args = parser.parse_args()

    with stack("load") as chaos:
        accounts, seeded = seed(chaos, args.users, args.seconds)
        (chaos.folder / "users.json").write_text(json.dumps(accounts))
        _, base = chaos.api()
        worker = chaos.worker("worker", concurrency=2, PURGE_BATCH_SIZE=50)
        stop = threading.Event()
        driver = threading.Thread(target=drive_jobs, args=(chaos, stop), daemon=True)
        driver.start()
        state_file = chaos.folder / "state.json"
        started = time.monotonic()
        try:
            locust = subprocess.run(
                [
                    str(BIN / "locust"),
                    "-f",
                    str(Path(__file__).with_name("locustfile.py")),
                    "--headless",
                    "--users",
                    str(args.users),
                    "--spawn-rate",
                    str(args.spawn_rate),
                    "--run-time",
                    f"{args.seconds}s",
                    "--stop-timeout",
                    "10",
                    "--host",
                    base,
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                env=chaos.base_env(
                    "locust",
                    LOAD_USERS=chaos.folder / "users.json",
                    LOAD_STATE=state_file,
                ),
                timeout=args.seconds + 120,
                check=False,
            )
        finally:
            stop.set()
            driver.join(timeout=30)
        elapsed = time.monotonic() - started

        # Whatever fell due during the run is reclaimed by one more purge.
        last = chaos.send("purge", trigger="admin")
        wait_until(
            lambda: (
                chaos.db.scalar(
                    "SELECT count(*) FROM job_runs WHERE status IN"
                    " ('QUEUED', 'RUNNING') OR (id = :last AND status <> 'SUCCEEDED')",
                    last=last,
                )
                == 0
                and chaos.db.scalar(
                    "SELECT count(*) FROM job_runs WHERE id = :l", l=last
                )
            ),
            timeout=120,
            what="the jobs to settle",
            watch=[worker],
        )
        state = json.loads(state_file.read_text())
        problems, counts = verify(chaos, state, seeded)

    figures = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "users": args.users,
        "seconds": args.seconds,
        "elapsedSeconds": round(elapsed, 1),
        **{
            k: state[k]
            for k in ("requests", "failures", "serverErrors", "p50Ms", "p99Ms", "rps")
        },
        **counts,
        "byEndpoint": state["byEndpoint"],
        "failureMessages": state["failureMessages"],
        "locustExit": locust.returncode,
        "problems": problems,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1))
    print(json.dumps({k: v for k, v in figures.items() if k != "byEndpoint"}, indent=1))
    for name, entry in figures["byEndpoint"].items():
        print(
            f"  {name:48} {entry['requests']:6} req {entry['failures']:3} failed"
            f"  p50 {entry['p50Ms']} ms  p99 {entry['p99Ms']} ms"
        )
    ok = not problems and state["failures"] == 0 and state["serverErrors"] == 0
    print("load run: OK" if ok else "load run: FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
