"""How the jobs' two scans cost as the table grows, the work to do staying equal.

For each size a sessions-only database is filled (children do not enter these
two queries) with the same number of due sessions and the same number newly
covered by the retention rule; the rest grows with the table, in the shares of
`dataset.LIVE_KINDS`, old abandoned sessions included. Each query is the one the
job runs (`service.due_claim`, `service.retention_scan`), timed by the
server with EXPLAIN ANALYZE, several times; the median is kept with the plan's
indexes.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from bench import dataset
from bench.pg import Databases
from interview_retention.config import Settings
from interview_retention.db.engine import create_db_engine
from interview_retention.deletion import service


def explain(conn: Connection, statement: Any, *, analyze: bool) -> dict[str, Any]:
    """The JSON plan of `statement` as the job would send it, with the server's
    own timing when `analyze`; the caller rolls back what it locked."""
    compiled = statement.compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
    )
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    result = conn.exec_driver_sql(f"EXPLAIN ({options}) {compiled}", compiled.params)
    return result.scalar()[0]


def index_names(plan: dict[str, Any]) -> list[str]:
    """Every index a plan reads, in plan order."""
    found = []
    stack = [plan.get("Plan", plan)]
    while stack:
        node = stack.pop(0)
        if "Index Name" in node:
            found.append(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return found


def time_query(
    engine: Engine, statement: Any, runs: int
) -> tuple[float, list[str], int]:
    """Median execution time in ms, the indexes used, and the buffers touched."""
    times = []
    plan: dict[str, Any] = {}
    for _ in range(runs):
        with engine.connect() as conn:
            plan = explain(conn, statement, analyze=True)
            conn.rollback()
        times.append(plan["Execution Time"])
    top = plan["Plan"]
    buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return statistics.median(times), index_names(plan), buffers


def measure_size(
    dbs: Databases,
    size: int,
    *,
    due: int,
    covered: int,
    now: datetime,
    seed: int,
    runs: int,
) -> dict[str, Any]:
    url = dbs.create(f"g{size}")
    try:
        builder = dataset.Builder(url, now=now, seed=seed)
        builder.build(size, due, covered=covered, children=False)
        dataset.finish(url)
        settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
        engine = create_db_engine(url)
        try:
            due_ms, due_plan, due_buffers = time_query(
                engine, service.due_claim(now, settings.purge_batch_size), runs
            )
            scan_ms, scan_plan, scan_buffers = time_query(
                engine,
                service.retention_scan(now, settings, settings.retention_batch_size),
                runs,
            )
        finally:
            engine.dispose()
    finally:
        dbs.drop(dbs.name(f"g{size}"))
    return {
        "sessions": size,
        "due": due,
        "covered": covered,
        "due_ms": due_ms,
        "due_indexes": due_plan,
        "due_buffers": due_buffers,
        "scan_ms": scan_ms,
        "scan_indexes": scan_plan,
        "scan_buffers": scan_buffers,
    }
