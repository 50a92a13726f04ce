"""Fixtures and checks of the fault scenarios (`make chaos`).

Every test here is marked `chaos` and left out of `make test`; the ones marked
`slow` wait out a broker visibility timeout and are left out of the reduced run
that CI makes (`make chaos-quick`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from interview_retention.deletion.models import DeletionLogEntry
from interview_retention.deletion.service import session_child_tables
from interview_retention.sessions.models import InterviewSession
from tests.chaos.harness import Stack, stack


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A database, a Redis server and room for processes, for this test only."""
    with stack(request.node.name.removeprefix("test_")[:20]) as built:
        yield built


def rows_by_session(db: Session, ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Rows of the session and of each child table, per session id; 0 when gone."""
    ids = list(ids)
    counts = {sid: {"interview_sessions": 0} for sid in ids}
    present = db.scalars(
        select(InterviewSession.id).where(InterviewSession.id.in_(ids))
    )
    for sid in present:
        counts[sid]["interview_sessions"] = 1
    for table in session_child_tables():
        for sid in ids:
            counts[sid][table.name] = 0
        grouped = db.execute(
            select(table.c.session_id, func.count())
            .where(table.c.session_id.in_(ids))
            .group_by(table.c.session_id)
        )
        for sid, n in grouped:
            counts[sid][table.name] = n
    return counts


@dataclass
class Outcome:
    """What became of a set of sessions: whole, gone, or (never) partial."""

    whole: set[str]
    gone: set[str]
    partial: dict[str, dict[str, int]]
    tombstones: Counter[str]

    @property
    def duplicated(self) -> dict[str, int]:
        return {sid: n for sid, n in self.tombstones.items() if n > 1}


# The jobs add notices to a session as it goes through the retention rule; they
# are bookkeeping, not content, and do not make a session more or less whole.
BOOKKEEPING = "deletion_notices"


def outcome(db: Session, expected: dict[str, dict[str, int]]) -> Outcome:
    """Compare each session's rows with what it was given (`expected`, as
    `rows_by_session` counts them) and collect every tombstone."""
    found = rows_by_session(db, expected)
    whole, gone, partial = set(), set(), {}
    for sid, rows in found.items():
        content = {k: n for k, n in rows.items() if k != BOOKKEEPING}
        if content == {k: n for k, n in expected[sid].items() if k != BOOKKEEPING}:
            whole.add(sid)
        elif not any(rows.values()):
            gone.add(sid)
        else:
            partial[sid] = rows
    logged = Counter(db.scalars(select(DeletionLogEntry.session_id)))
    return Outcome(whole, gone, partial, logged)


def assert_whole_or_gone(result: Outcome) -> None:
    """The invariant of every scenario: no partial session, one tombstone per gone
    session, and no tombstone for a session that is still there."""
    assert result.partial == {}, f"half-deleted sessions: {result.partial}"
    assert result.duplicated == {}, f"duplicate tombstones: {result.duplicated}"
    assert set(result.tombstones) & result.whole == set(), "tombstone of a live session"
    assert result.gone <= set(result.tombstones), "a session gone without a tombstone"
