"""`after_commit`: follow-up work runs after a commit, never after a rollback."""

from __future__ import annotations

from sqlalchemy import func, select

from interview_retention.db.hooks import after_commit
from interview_retention.users.models import User
from tests.factories import make_user


def test_callback_runs_after_commit(db):
    calls = []
    after_commit(db, lambda: calls.append("sent"))

    db.commit()

    assert calls == ["sent"]


def test_callback_waits_for_commit(db):
    calls = []

    after_commit(db, lambda: calls.append("sent"))
    db.flush()

    assert calls == []


def test_callback_sees_committed_rows(db, factory):
    user, _ = make_user(db)
    user.display_name = "Renamed"
    seen = []

    def look():
        with factory() as other:
            seen.append(
                other.scalar(select(User.display_name).where(User.id == user.id))
            )

    after_commit(db, look)
    db.commit()

    assert seen == ["Renamed"]


def test_callback_is_dropped_on_rollback(db):
    user, _ = make_user(db)
    user.display_name = "Never saved"
    db.flush()
    calls = []
    after_commit(db, lambda: calls.append("sent"))

    db.rollback()
    db.commit()

    assert calls == []
    assert db.scalar(select(User.display_name).where(User.id == user.id)) == ""


def test_callback_runs_once(db):
    calls = []
    after_commit(db, lambda: calls.append("sent"))
    db.commit()

    db.commit()

    assert calls == ["sent"]


def test_failing_callback_keeps_commit_and_later_callbacks(db, factory):
    calls = []
    user, _ = make_user(db)
    user.display_name = "Kept"

    def fail():
        raise RuntimeError("broker away")

    after_commit(db, fail)
    after_commit(db, lambda: calls.append("sent"))
    db.commit()

    assert calls == ["sent"]
    with factory() as other:
        count = other.scalar(
            select(func.count()).where(User.id == user.id, User.display_name == "Kept")
        )
    assert count == 1


def test_callback_is_dropped_on_rollback_before_any_query(db):
    db.execute(select(1))
    db.commit()
    calls = []
    after_commit(db, lambda: calls.append("sent"))
    db.begin()

    db.rollback()
    db.commit()

    assert calls == []


def test_callback_survives_a_rolled_back_savepoint_when_the_outer_commits(db):
    calls = []
    db.execute(select(1))
    after_commit(db, lambda: calls.append("sent"))
    savepoint = db.begin_nested()
    savepoint.rollback()

    db.commit()

    assert calls == ["sent"]
