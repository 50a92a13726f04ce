"""The load run's final check finds what it is there to find."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy.orm import sessionmaker

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionLogEntry
from tests.chaos.conftest import rows_by_session
from tests.deletion.support import seed_sessions
from tests.factories import make_user
from tests.load.run import verify

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(pg_engine):
    factory = sessionmaker(bind=pg_engine, expire_on_commit=False)
    with factory() as db:
        user, _ = make_user(db)
        kept, other = seed_sessions(db, user, 2, created_at=utcnow())
        seeded = {
            "dueNow": [],
            "dueDuring": {},
            "rows": rows_by_session(db, [kept, other]),
        }
    state = {
        "users": [
            {
                "userId": user.id,
                "alive": {kept: "EVALUATED", other: "EVALUATED"},
                "questions": {},
                "deleted": [],
                "restored": [],
                "expired": [],
                "pending": [],
            }
        ]
    }
    return SimpleNamespace(db=SimpleNamespace(factory=factory)), state, seeded, other


def test_beliefs_that_hold_pass(world):
    chaos, state, seeded, _ = world

    problems, counts = verify(chaos, state, seeded)

    assert problems == []
    assert counts["sessionsAlive"] == 2


def test_a_session_believed_alive_but_missing_is_lost(world):
    chaos, state, seeded, _ = world
    state["users"][0]["alive"]["no-such-session"] = "CREATED"
    state["users"][0]["questions"]["no-such-session"] = 3

    problems, _ = verify(chaos, state, seeded)

    assert any(p.startswith("lost: no-such-session") for p in problems)


def test_a_session_nobody_believes_in_is_leaked(world):
    chaos, state, seeded, other = world
    del state["users"][0]["alive"][other]

    problems, _ = verify(chaos, state, seeded)

    assert any("nobody believes exist" in p for p in problems)


def test_a_deleted_session_still_there_and_a_stray_tombstone_are_found(world):
    chaos, state, seeded, other = world
    del state["users"][0]["alive"][other]
    state["users"][0]["deleted"].append(other)
    with chaos.db.factory() as db:
        db.add(
            DeletionLogEntry(
                session_id=other,
                user_id=state["users"][0]["userId"],
                reason="USER",
                actor="user:someone-else",
                requested_at=utcnow(),
                purged_at=utcnow(),
            )
        )
        db.commit()

    problems, _ = verify(chaos, state, seeded)

    assert any(p.startswith(f"{other}: deleted by") for p in problems)
    assert any(p.startswith("tombstones differ") for p in problems)


def test_a_status_other_than_believed_is_found(world):
    chaos, state, seeded, other = world
    state["users"][0]["alive"][other] = "DELETED"

    problems, _ = verify(chaos, state, seeded)

    assert any(p.startswith(f"{other}: status EVALUATED") for p in problems)
