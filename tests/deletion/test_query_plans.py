"""The jobs' two scans read their partial indexes, whatever the table's size.

The plans come from the planner's own statistics: the table holds enough rows,
most of them outside what the jobs look for, and is analyzed first. Nothing
forces an index (no `enable_seqscan = off`), so a query or index change that
makes the planner fall back to reading the whole table fails here. The timings
behind this are in `make bench` (docs/performance.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from interview_retention.deletion import service
from tests.factories import make_user

pytestmark = pytest.mark.postgres

SESSIONS = 20_000
# Of those, due now; newly covered by the retention rule; abandoned long ago in
# a status the rule does not cover; scheduled for later. The rest are recent.
DUE, COVERED, ABANDONED, SCHEDULED = 50, 50, 1_000, 1_000


def fill(db, user_id: str, now) -> None:
    """SESSIONS sessions in the shares above, written by the server in one go."""
    db.execute(
        text(
            """
            INSERT INTO interview_sessions (id, user_id, status, question_count,
                config, created_at, updated_at, permanent_delete_at,
                deletion_reason, notice_cycle, legal_hold)
            SELECT gen_random_uuid()::text, :user_id,
                CASE WHEN i <= :due THEN 'DELETED'
                     WHEN i <= :covered THEN 'EVALUATED'
                     WHEN i <= :abandoned THEN 'IN_PROGRESS'
                     ELSE 'EVALUATED' END,
                7, '{}'::jsonb,
                CASE WHEN i <= :due THEN :now - interval '200 days'
                     WHEN i <= :covered THEN :now - interval '91 days'
                     WHEN i <= :abandoned THEN :now - interval '400 days'
                     ELSE :now - (i % 80) * interval '1 day' END,
                :now,
                CASE WHEN i <= :due THEN :now - interval '1 hour'
                     WHEN i > :abandoned AND i <= :scheduled
                         THEN :now + interval '5 days' END,
                CASE WHEN i <= :due OR (i > :abandoned AND i <= :scheduled)
                     THEN 'USER' END,
                0, false
            FROM generate_series(1, :sessions) AS i
            """
        ),
        {
            "user_id": user_id,
            "now": now,
            "due": DUE,
            "covered": DUE + COVERED,
            "abandoned": DUE + COVERED + ABANDONED,
            "scheduled": DUE + COVERED + ABANDONED + SCHEDULED,
            "sessions": SESSIONS,
        },
    )
    db.execute(text("ANALYZE interview_sessions"))


def plan_of(db, statement: Any) -> dict[str, Any]:
    compiled = statement.compile(
        dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    return (
        db.connection()
        .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        .scalar()[0]["Plan"]
    )


def scans_of_sessions(plan: dict[str, Any]) -> list[str]:
    """How each node of the plan reads interview_sessions: by the index it walks
    (itself, or through a bitmap), or by its node type ('Seq Scan')."""
    found = []
    for node in _nodes(plan):
        if node.get("Relation Name") != "interview_sessions":
            continue
        if node["Node Type"] == "Bitmap Heap Scan":
            found.extend(
                child["Index Name"]
                for child in _nodes(node)
                if child["Node Type"] == "Bitmap Index Scan"
            )
        else:
            found.append(node.get("Index Name", node["Node Type"]))
    return found


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], [plan]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.get("Plans", []))
    return out


@pytest.fixture
def filled(pg_db, now):
    user, _ = make_user(pg_db)
    fill(pg_db, user.id, now)
    pg_db.commit()
    return pg_db


def test_the_purge_claim_reads_the_due_index(filled, pg_settings, now):
    plan = plan_of(filled, service.due_claim(now, pg_settings.purge_batch_size))

    assert scans_of_sessions(plan) == ["ix_interview_sessions_due"]


def test_the_retention_scan_reads_the_retention_index_per_status(
    filled, pg_settings, now
):
    statement = service.retention_scan(
        now, pg_settings, pg_settings.retention_batch_size
    )

    plan = plan_of(filled, statement)

    statuses = len(pg_settings.retention_statuses)
    assert scans_of_sessions(plan) == ["ix_interview_sessions_retention"] * statuses


def test_the_retention_scan_does_not_read_sessions_it_never_covers(
    filled, pg_settings, now
):
    # The abandoned IN_PROGRESS sessions are older than every covered one: a
    # scan by age alone would read all of them before the first it wants.
    statement = service.retention_scan(
        now, pg_settings, pg_settings.retention_batch_size
    )
    compiled = statement.compile(
        dialect=filled.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )

    analyzed = (
        filled.connection()
        .exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", compiled.params)
        .scalar()[0]["Plan"]
    )

    read = sum(
        node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        for node in _nodes(analyzed)
        if node.get("Relation Name") == "interview_sessions"
    )
    assert analyzed["Actual Rows"] == COVERED
    assert read < COVERED + ABANDONED // 10


def test_the_fill_matches_what_the_jobs_look_for(filled, now):
    due = filled.execute(
        text(
            "SELECT count(*) FROM interview_sessions WHERE permanent_delete_at <= :now"
            " AND legal_hold = false"
        ),
        {"now": now},
    ).scalar()
    covered = filled.execute(
        text(
            "SELECT count(*) FROM interview_sessions WHERE permanent_delete_at IS NULL"
            " AND status IN ('COMPLETED', 'EVALUATED') AND created_at < :cutoff"
        ),
        {"cutoff": now - timedelta(days=90)},
    ).scalar()

    assert (due, covered) == (DUE, COVERED)


def test_the_admins_list_of_holds_reads_the_holds_index(filled):
    filled.execute(
        text(
            "UPDATE interview_sessions SET legal_hold = true WHERE id IN"
            " (SELECT id FROM interview_sessions ORDER BY id LIMIT 20)"
        )
    )
    filled.execute(text("ANALYZE interview_sessions"))
    filled.commit()

    plan = plan_of(filled, service.holds_page(offset=0, limit=50))

    assert scans_of_sessions(plan) == ["ix_interview_sessions_on_hold"]
