"""One way of deleting the due sessions, run alone in its own process.

`python -m bench.variants VARIANT URL [options]` deletes what is due in the
database at URL and prints one JSON object: what it deleted, how long it took,
how long each transaction held its row locks, the process's peak memory and the
WAL the server wrote meanwhile. Each variant runs in a fresh process so that its
peak memory is its own: the peak RSS (VmHWM) is reset once the bench's own
counting is done, so it covers the deletion alone, imports and connections
included.

- ours: the purge job itself (`deletion.jobs.run_job("purge", ...)`), with its
  settings' batch size unless `--batch-size` is given, evicting from Redis.
- limit: one `DELETE` of every due session; the foreign keys' cascades take the
  children. The least work PostgreSQL can do for this: no tombstones, no cache.
- naive: the loop an ORM makes easy: load the due sessions, then
  `session.delete(s)` and `commit()` one at a time; on a sample only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.db.engine import create_db_engine, get_sessionmaker
from interview_retention.deletion import jobs
from interview_retention.deletion.channels import LogChannel
from interview_retention.deletion.service import session_child_tables
from interview_retention.logs import configure_logging
from interview_retention.sessions.cache import RedisReportCache
from interview_retention.sessions.models import InterviewSession

S = InterviewSession

# The one statement of the "limit" variant: the due predicate of
# `repository.is_due`, written out.
LIMIT_DELETE = text(
    "DELETE FROM interview_sessions WHERE permanent_delete_at IS NOT NULL"
    " AND permanent_delete_at <= :now AND legal_hold = false"
)


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Start the peak RSS over from the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Backends:
    """The server processes behind an engine's connections, for their CPU time.

    Read from /proc, so only when the server runs on this machine and this user
    may read its processes; otherwise the figure is left out.
    """

    def __init__(self, engine: Engine) -> None:
        self.pids: set[int] = set()
        event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        self.pids.add(dbapi_connection.info.backend_pid)

    def cpu_seconds(self) -> float | None:
        total = 0.0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total


def wal_lsn(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar()


def wal_bytes(engine: Engine, start: str, end: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT pg_wal_lsn_diff(:end, :start)"),
                {"start": start, "end": end},
            ).scalar()
        )


def due_rows(engine: Engine, now: datetime) -> dict[str, int]:
    """Every session due at `now`, most overdue first, with the rows deleting it
    removes (itself and its children), counted here independently of the job."""
    counts = " + ".join(
        f"(SELECT count(*) FROM {table.name} c WHERE c.session_id = s.id)"
        for table in session_child_tables()
    )
    query = text(
        f"SELECT s.id, 1 + {counts} FROM interview_sessions s"
        " WHERE s.permanent_delete_at <= :now AND s.legal_hold = false"
        " ORDER BY s.permanent_delete_at"
    )
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(query, {"now": now})}


class LockClock:
    """Times each purge transaction from its claim to its commit.

    The claim is the statement with SKIP LOCKED: from there until the commit the
    batch holds its sessions' row locks. Listening to engine and session events
    changes nothing in what the job does.
    """

    def __init__(self, engine: Engine) -> None:
        self.holds_ms: list[float] = []
        self._claimed_at: float | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(Session, "after_commit", self._committed)
        event.listen(Session, "after_rollback", self._rolled_back)

    def _before(self, conn, cursor, statement, params, context, many) -> None:
        if "SKIP LOCKED" in statement:
            self._claimed_at = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, many) -> None:
        # A claim that found nothing locked nothing: the run's last, empty batch.
        if "SKIP LOCKED" in statement and cursor.rowcount == 0:
            self._claimed_at = None

    def _committed(self, db: Session) -> None:
        if self._claimed_at is not None:
            self.holds_ms.append((time.perf_counter() - self._claimed_at) * 1000)
            self._claimed_at = None

    def _rolled_back(self, db: Session) -> None:
        self._claimed_at = None


def run_ours(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "database_url": args.url,
        "redis_url": args.redis_url,
        "cache_key_prefix": args.prefix,
        "log_level": "WARNING",
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    cache = RedisReportCache(
        redis.Redis.from_url(args.redis_url),
        prefix=settings.cache_key_prefix,
        ttl_seconds=settings.report_cache_ttl_seconds,
    )
    body = jobs.body_of(
        "purge", cache=cache, channel=LogChannel(), batch_size=args.batch_size
    )
    clock = LockClock(engine)
    now = utcnow()

    started = time.perf_counter()
    result = jobs.run_job(
        "purge",
        body,
        factory=get_sessionmaker(engine),
        settings=settings,
        trigger="cli",
        now=now,
    )
    seconds = time.perf_counter() - started

    return {
        "sessions": result["purged"],
        "rows": result["rows_removed"],
        "seconds": seconds,
        "holds_ms": clock.holds_ms,
        "batch_size": args.batch_size or settings.purge_batch_size,
    }


def run_limit(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    now = utcnow()

    started = time.perf_counter()
    with engine.begin() as conn:
        sessions = conn.execute(LIMIT_DELETE, {"now": now}).rowcount
    seconds = time.perf_counter() - started

    return {
        "sessions": sessions,
        "rows": args.expected_rows,
        "seconds": seconds,
        "holds_ms": [seconds * 1000],
    }


def run_naive(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    factory = get_sessionmaker(engine)
    ids = args.sample_ids
    holds: list[float] = []
    deleted = 0
    started = time.perf_counter()
    with factory() as db:
        for session_id in ids:
            began = time.perf_counter()
            session = db.get(S, session_id)
            db.delete(session)
            db.commit()
            holds.append((time.perf_counter() - began) * 1000)
            deleted += 1
            if time.perf_counter() - started > args.time_cap:
                break
    seconds = time.perf_counter() - started

    return {
        "sessions": deleted,
        "rows": sum(args.sample_rows[:deleted]),
        "seconds": seconds,
        "holds_ms": holds,
        "sample": len(ids),
    }


RUNNERS = {"ours": run_ours, "limit": run_limit, "naive": run_naive}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.variants")
    parser.add_argument("variant", choices=sorted(RUNNERS))
    parser.add_argument("url")
    parser.add_argument("--redis-url", default="redis://localhost:6379/0")
    parser.add_argument("--prefix", default="irbench:")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--time-cap", type=float, default=60.0)
    args = parser.parse_args(argv)

    configure_logging("WARNING")
    engine = create_db_engine(args.url)
    backends = Backends(engine)
    due = due_rows(engine, utcnow())
    args.expected_rows = sum(due.values())
    args.sample_ids = list(due)[: args.sample]
    args.sample_rows = [due[sid] for sid in args.sample_ids]
    # The bench's own count above built large results; the peak that matters
    # starts here.
    peak_reset = reset_peak_rss()
    baseline = status_kb("VmRSS")
    before = wal_lsn(engine)
    client_cpu, server_cpu = cpu_seconds(), backends.cpu_seconds()
    started_at = time.monotonic()
    figures = RUNNERS[args.variant](engine, args)
    ended_at = time.monotonic()
    client_cpu = cpu_seconds() - client_cpu
    if server_cpu is not None:
        server_now = backends.cpu_seconds()
        server_cpu = None if server_now is None else server_now - server_cpu
    after = wal_lsn(engine)

    figures.update(
        variant=args.variant,
        due_sessions=len(due),
        # CLOCK_MONOTONIC, shared by every process: the API load's window.
        started_at=started_at,
        ended_at=ended_at,
        expected_rows=args.expected_rows,
        wal_bytes=wal_bytes(engine, before, after),
        baseline_rss_kb=baseline,
        peak_rss_kb=status_kb("VmHWM")
        if peak_reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        client_cpu_seconds=client_cpu,
        server_cpu_seconds=server_cpu,
    )
    engine.dispose()
    json.dump(figures, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
