"""`make bench`: the purge against PostgreSQL's own limit and a naive ORM loop, the
API while it runs, and the jobs' scans as the table grows. Prints one markdown
report; `docs/performance.md` explains every column.

    python -m bench [--sessions 100000] [--due-share 0.2] [--repeat 3] ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import api_load, dataset, growth, report
from bench.pg import REDIS_URL, Databases, libpq
from bench.report import median_run
from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.deletion.service import session_child_tables

STARTED = time.monotonic()


def say(message: str) -> None:
    elapsed = time.monotonic() - STARTED
    print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.2)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="the purge's batch size (default: PURGE_BATCH_SIZE's default)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and limit")
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--naive-seconds", type=float, default=60.0)
    parser.add_argument("--api-clients", type=int, default=4)
    parser.add_argument(
        "--api-think-ms",
        type=float,
        default=50.0,
        help="each API client's pause between two requests (0: none)",
    )
    parser.add_argument("--api-idle-seconds", type=float, default=20.0)
    parser.add_argument(
        "--api-repeat", type=int, default=3, help="API runs, their samples pooled"
    )
    parser.add_argument(
        "--api-pause-ms",
        type=int,
        default=150,
        help="run the API step again with this PURGE_PAUSE_MS (0 skips it)",
    )
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument(
        "--growth",
        default="10000,100000,1000000",
        help="table sizes of the cost growth step, comma-separated ('' skips it)",
    )
    parser.add_argument("--growth-due", type=int, default=1000)
    parser.add_argument("--growth-runs", type=int, default=11)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if not 0 < args.due_share < 1:
        parser.error("--due-share must be between 0 and 1")
    if args.sessions < 100:
        parser.error("--sessions must be at least 100")
    return args


def machine(dbs: Databases) -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "ram_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": dbs.server(),
        "load_at_start": os.getloadavg(),
    }


def run_variant(
    dbs: Databases,
    template: str,
    variant: str,
    suffix: str,
    args: argparse.Namespace,
    prefix: str,
) -> dict[str, Any]:
    """Delete the due sessions of a fresh copy of the data one way; check the result."""
    url = dbs.copy(template, suffix)
    try:
        command = [sys.executable, "-m", "bench.variants", variant, url]
        command += ["--redis-url", REDIS_URL, "--prefix", prefix]
        command += ["--sample", str(args.naive_sample)]
        command += ["--time-cap", str(args.naive_seconds)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=3600, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{done.stderr[-4000:]}")
        figures = json.loads(done.stdout)
        check(url, variant, figures)
    finally:
        dbs.drop(dbs.name(suffix))
    return figures


def check(url: str, variant: str, figures: dict[str, Any]) -> None:
    """What was due is gone, with all of its children and nothing else."""
    with psycopg.connect(libpq(url)) as conn:
        left = conn.execute(
            "SELECT count(*) FROM interview_sessions WHERE permanent_delete_at <= now()"
            " AND legal_hold = false"
        ).fetchone()[0]
        orphans = sum(
            conn.execute(
                f"SELECT count(*) FROM {table.name} c WHERE NOT EXISTS"
                " (SELECT 1 FROM interview_sessions s WHERE s.id = c.session_id)"
            ).fetchone()[0]
            for table in session_child_tables()
        )
        tombstones = conn.execute("SELECT count(*) FROM deletion_log").fetchone()[0]
    expected_left = figures["due_sessions"] - figures["sessions"]
    problems = []
    if left != expected_left:
        problems.append(f"{left} due sessions left, expected {expected_left}")
    if orphans:
        problems.append(f"{orphans} child rows without their session")
    if variant == "ours":
        if tombstones != figures["sessions"]:
            problems.append(f"{tombstones} tombstones for {figures['sessions']}")
        if figures["rows"] != figures["expected_rows"]:
            problems.append(
                f"the job counted {figures['rows']} rows,"
                f" the bench {figures['expected_rows']}"
            )
    if problems:
        raise RuntimeError(f"{variant}: " + "; ".join(problems))


def run_api(
    dbs: Databases,
    template: str,
    args: argparse.Namespace,
    prefix: str,
    logs: Path,
    pause_ms: int | None = None,
) -> dict[str, Any]:
    """Latency of GET and PATCH idle, then while the purge runs (with
    PURGE_PAUSE_MS=`pause_ms` if given); `--api-repeat` times on fresh copies,
    the samples of every repeat pooled."""
    idle: list[api_load.Sample] = []
    during: list[api_load.Sample] = []
    purges = []
    for n in range(args.api_repeat):
        setting = "" if pause_ms is None else f", PURGE_PAUSE_MS={pause_ms}"
        say(f"API idle, then during the purge{setting}, {n + 1} of {args.api_repeat}")
        samples, idle_window, figures = api_once(
            dbs, template, args, prefix, logs, f"api{n}", pause_ms
        )
        idle += [s for s in samples if idle_window[0] <= s.started < idle_window[1]]
        window = (figures["started_at"], figures["ended_at"])
        during += [s for s in samples if window[0] <= s.started < window[1]]
        purges.append(figures)
    failed = [s for s in idle + during if s.status != 200]
    if failed:
        # Latencies of refused requests say nothing about the database: stop.
        statuses = sorted({s.status for s in failed})
        raise SystemExit(
            f"the API answered {len(failed)} of {len(idle) + len(during)} bench"
            f" requests with {statuses}, not 200; its latency figures are void"
        )
    return {
        "idle": api_load.summarize(idle),
        "during": api_load.summarize(during),
        "purge": median_run(purges),
        "clients": args.api_clients,
        "think_ms": args.api_think_ms,
        "idle_seconds": args.api_idle_seconds,
        "repeat": args.api_repeat,
        "pause_ms": pause_ms,
    }


def api_once(
    dbs: Databases,
    template: str,
    args: argparse.Namespace,
    prefix: str,
    logs: Path,
    suffix: str,
    pause_ms: int | None,
) -> tuple[list[api_load.Sample], tuple[float, float], dict[str, Any]]:
    url = dbs.copy(template, suffix)
    server = api_load.Server(url, REDIS_URL, prefix + "api:", logs / "uvicorn.log")
    purge: subprocess.Popen[str] | None = None
    load: api_load.Load | None = None
    try:
        server.wait_ready()
        sessions = api_load.live_sessions(url, args.api_clients * 25)
        owned = [sessions[i :: args.api_clients] for i in range(args.api_clients)]
        load = api_load.Load(server.base, owned, think=args.api_think_ms / 1000)
        load.start()
        time.sleep(3)  # connections, caches and plans warm up first
        idle = (time.monotonic(), time.monotonic() + args.api_idle_seconds)
        time.sleep(args.api_idle_seconds)

        command = [sys.executable, "-m", "bench.variants", "ours", url]
        command += ["--redis-url", REDIS_URL, "--prefix", prefix]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        env = dict(os.environ)
        if pause_ms is not None:
            env["PURGE_PAUSE_MS"] = str(pause_ms)
        purge = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        out, _ = purge.communicate(timeout=3600)
        load.finish()
        if purge.returncode != 0:
            raise RuntimeError("the purge under API load failed")
        figures = json.loads(out)
        check(url, "ours", figures)
    finally:
        if load is not None:
            load.finish()
        if purge is not None and purge.poll() is None:
            purge.kill()
        server.stop()
        dbs.drop(dbs.name(suffix))
    return load.samples, idle, figures


def build(dbs: Databases, args: argparse.Namespace, now: datetime) -> tuple[str, Any]:
    url = dbs.create("tpl")
    due = round(args.sessions * args.due_share)
    builder = dataset.Builder(url, now=now, seed=args.seed)
    started = time.monotonic()
    builder.build(args.sessions, due)
    dataset.finish(url)
    say(f"built {builder.rows} in {time.monotonic() - started:.0f}s")
    size = dbs.admin("SELECT pg_database_size(%s)", (dbs.name("tpl"),))[0][0]
    return dbs.name("tpl"), {
        "rows": builder.rows,
        "due": due,
        "seconds": time.monotonic() - started,
        "bytes": size,
    }


def clean_redis(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    # A kill (timeout, CI) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    dbs = Databases()
    prefix = f"irbench:{dbs.tag}:"
    figures: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv or sys.argv[1:]),
        "batch_size": args.batch_size or Settings(_env_file=None).purge_batch_size,  # type: ignore[call-arg]
    }
    try:
        figures["machine"] = machine(dbs)
        now = utcnow()
        say(f"building {args.sessions} sessions with their children (COPY)")
        template, figures["data"] = build(dbs, args, now)

        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "limit": []}
        for n in range(args.repeat):
            for variant in ("limit", "ours"):
                say(f"{variant}, run {n + 1} of {args.repeat}")
                runs[variant].append(
                    run_variant(dbs, template, variant, f"{variant}{n}", args, prefix)
                )
        say(f"naive, on the first {args.naive_sample} due sessions")
        runs["naive"] = [run_variant(dbs, template, "naive", "naive", args, prefix)]
        figures["runs"] = runs

        if not args.skip_api:
            with tempfile.TemporaryDirectory(prefix="ir_bench_") as logs:
                figures["api"] = run_api(dbs, template, args, prefix, Path(logs))
                if args.api_pause_ms:
                    figures["api_paused"] = run_api(
                        dbs, template, args, prefix, Path(logs), args.api_pause_ms
                    )
        dbs.drop(template)

        sizes = [int(s) for s in args.growth.split(",") if s.strip()]
        figures["growth"] = []
        for size in sizes:
            say(f"cost growth at {size} sessions")
            figures["growth"].append(
                growth.measure_size(
                    dbs,
                    size,
                    due=args.growth_due,
                    covered=args.growth_due,
                    now=now,
                    seed=args.seed,
                    runs=args.growth_runs,
                )
            )
        figures["machine"]["load_at_end"] = os.getloadavg()
    finally:
        dbs.drop_all()
        clean_redis(prefix)

    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    print(report.markdown(figures))
    say("done")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        say("interrupted; the bench databases were dropped")
        sys.exit(130)
