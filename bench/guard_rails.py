"""What the guard rails cost: a purge with and without them, and a /metrics scrape.

Runs on a PostgreSQL database of its own (created and dropped here):

    .venv/bin/python -m bench.guard_rails [--sessions 20000] [--tombstones 200000]

Prints the purge's time per batch with the heartbeat, progress and timeout
writes on and with them stubbed out, and the time of one metrics scrape over a
deletion log of the given size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import timedelta

from prometheus_client import generate_latest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.db.engine import create_db_engine
from interview_retention.db.migrate import upgrade
from interview_retention.deletion import guards, heartbeats, jobs
from interview_retention.deletion.models import DeletionLogEntry
from interview_retention.logs import configure_logging
from interview_retention.metrics import registry_for
from interview_retention.sessions.cache import NoCache
from interview_retention.sessions.models import Answer, InterviewSession, Question
from interview_retention.users.models import User

ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@localhost:5432/postgres"
)


def seed_due(factory, user_id: str, count: int, now) -> None:
    with factory() as db:
        for start in range(0, count, 5000):
            ids = [str(uuid.uuid4()) for _ in range(min(5000, count - start))]
            db.execute(
                insert(InterviewSession),
                [
                    {
                        "id": sid,
                        "user_id": user_id,
                        "status": "DELETED",
                        "question_count": 1,
                        "config": {},
                        "created_at": now - timedelta(days=60),
                        "updated_at": now,
                        "deleted_at": now - timedelta(days=31),
                        "permanent_delete_at": now - timedelta(minutes=i % 600 + 1),
                        "deletion_reason": "USER",
                    }
                    for i, sid in enumerate(ids)
                ],
            )
            qids = [str(uuid.uuid4()) for _ in ids]
            db.execute(
                insert(Question),
                [
                    {"id": q, "session_id": s, "position": 0, "text": "Q"}
                    for q, s in zip(qids, ids, strict=True)
                ],
            )
            db.execute(
                insert(Answer),
                [
                    {"session_id": s, "question_id": q, "text": "A"}
                    for q, s in zip(qids, ids, strict=True)
                ],
            )
            db.commit()


def purge(factory, settings, now) -> tuple[float, int]:
    started = time.perf_counter()
    result = jobs.run_job(
        "purge",
        lambda ctx: jobs.purge(ctx, cache=NoCache()),
        factory=factory,
        settings=settings,
        now=now,
        trigger="cli",
    )
    return time.perf_counter() - started, result["batches"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--tombstones", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    configure_logging("WARNING", json=True)

    name = f"ir_issue5_bench_{os.getpid()}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "head")
        engine = create_db_engine(url)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        settings = Settings(
            _env_file=None,
            database_url=url,
            purge_batch_size=args.batch_size,
            purge_time_budget_seconds=1000,
        )
        now = utcnow()
        with factory() as db:
            user = User(email="bench@example.com", display_name="bench")
            db.add(user)
            db.commit()
            user_id = user.id

        # Time each guard rail call where it happens: on a shared machine two
        # whole runs differ by more than the guard rails cost.
        spent: dict[str, list[float]] = {}

        def timed(name, function):
            def wrapper(*a, **k):
                started = time.perf_counter()
                try:
                    return function(*a, **k)
                finally:
                    spent.setdefault(name, []).append(time.perf_counter() - started)

            return wrapper

        originals = {
            "progress and heartbeat": (heartbeats, "progressed"),
            "statement and lock timeouts": (guards, "apply_timeouts"),
            "count of what is due": (jobs, "_due_count"),
            "one batch (all of it)": (guards, "run_batch"),
        }
        saved = {key: getattr(*key) for key in originals.values()}
        for name, (module, attr) in originals.items():
            setattr(module, attr, timed(name, getattr(module, attr)))
        seed_due(factory, user_id, args.sessions, now)
        try:
            seconds, batches = purge(factory, settings, now)
        finally:
            for (module, attr), original in saved.items():
                setattr(module, attr, original)
        print(
            f"purge {args.sessions} sessions, {batches} batches of"
            f" {args.batch_size}: {seconds:.2f} s"
        )
        for name, times in spent.items():
            print(
                f"  {name}: {len(times)} calls, median"
                f" {statistics.median(times) * 1000:.1f} ms,"
                f" total {sum(times):.2f} s"
            )

        with factory() as db:
            for start in range(0, args.tombstones, 20_000):
                db.execute(
                    insert(DeletionLogEntry),
                    [
                        {
                            "session_id": str(uuid.uuid4()),
                            "user_id": user_id,
                            "reason": ("USER", "RETENTION", "ADMIN")[i % 3],
                            "actor": "system:purge",
                            "requested_at": now,
                            "purged_at": now,
                            "rows_removed": {},
                        }
                        for i in range(min(20_000, args.tombstones - start))
                    ],
                )
                db.commit()
            db.execute(text("ANALYZE"))
            db.commit()
        seed_due(factory, user_id, args.sessions, now)
        registry = registry_for(factory, settings)
        times = []
        for _ in range(7):
            started = time.perf_counter()
            body = generate_latest(registry)
            times.append(time.perf_counter() - started)
        print(
            f"/metrics scrape over {args.tombstones + 3 * args.sessions} tombstones"
            f" and {args.sessions} due sessions: median"
            f" {statistics.median(times) * 1000:.0f} ms, {len(body)} bytes"
        )
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
