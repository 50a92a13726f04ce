"""Sequences of user, admin and job actions, looking for a deletion that comes too
early, a session half deleted, a copy left in the cache, or one that never goes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time

from interview_retention.api.app import create_app
from interview_retention.deletion import service
from interview_retention.sessions import repository
from interview_retention.sessions import service as sessions
from tests.deletion import support
from tests.deletion.support import (
    FULL_CHILDREN,
    FailingChannel,
    child_rows,
    exists,
    make_soft_deleted,
    notices_of,
    reload,
    run_notices,
    run_purge,
    run_retention,
    schedule_by_retention,
    tombstones,
)
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import path

GRACE = timedelta(days=7)
RECOVERY = timedelta(days=30)
SECOND = timedelta(seconds=1)


# Each action runs in a transaction of its own, as a request or a command does, so
# that it reads the rows the jobs left rather than objects it loaded before.
def hold(factory, session_id, now):
    with factory() as db:
        support.hold(db, session_id, now, reason="court")


def lift(factory, session_id, now, settings):
    with factory() as db:
        support.lift(db, session_id, now, settings)


def soft_delete(factory, user, session_id, now, settings):
    with factory() as db:
        found = owned(db, user, session_id, now)
        sessions.soft_delete(found, now=now, settings=settings)
        db.commit()


def restore(factory, user, session_id, now, settings):
    with factory() as db:
        sessions.restore(owned(db, user, session_id, now), now=now, settings=settings)
        db.commit()


def owned(db, user, session_id, now):
    """The session as the owner's request finds it, locked."""
    found = repository.get_owned(
        db, user_id=user.id, session_id=session_id, now=now, lock=True
    )
    assert found is not None
    return found


class RacingCache:
    """A report cache that runs `meanwhile` just before its first write lands."""

    def __init__(self, inner, meanwhile: Callable[[], object]) -> None:
        self.inner = inner
        self.meanwhile: Callable[[], object] | None = meanwhile

    def get(self, session_id):
        return self.inner.get(session_id)

    def put(self, session_id, report):
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        self.inner.put(session_id, report)

    def evict(self, session_ids):
        return self.inner.evict(session_ids)


class TestReportCache:
    @pytest.mark.parametrize("deleter", ["purge", "hard-delete"])
    def test_a_report_read_racing_a_deletion_leaves_no_copy_in_the_cache(
        self, db, engine, factory, settings, cache, redis_client, now, deleter
    ):
        user, token = make_user(db)
        session = make_soft_deleted(db, user, deadline=now)

        def delete() -> None:
            if deleter == "purge":
                run_purge(factory, settings, cache, now)
                return
            with factory() as other:
                service.hard_delete(
                    other,
                    user_id=user.id,
                    session_id=session.id,
                    now=now - SECOND,
                    cache=cache,
                )
                other.commit()

        app = create_app(
            settings, engine=engine, report_cache=RacingCache(cache, delete)
        )
        client = TestClient(app, raise_server_exceptions=False)

        # The report is read from the database a second before the deadline; the
        # session is deleted before the reader's copy reaches the cache.
        with freeze_time(now - SECOND):
            response = client.get(path(session.id, "/report"), headers=auth(token))

        assert response.status_code == 200
        assert not exists(db, session.id)
        assert cache.get(session.id) is None
        stored = redis_client.get(cache.key(session.id))
        assert stored is None or b"Good session" not in stored

    def test_a_report_is_cached_again_after_it_expires(
        self, client, db, cache, redis_client, now
    ):
        user, token = make_user(db)
        session = make_session(db, user)
        client.get(path(session.id, "/report"), headers=auth(token))
        redis_client.delete(cache.key(session.id))

        response = client.get(path(session.id, "/report"), headers=auth(token))

        assert response.status_code == 200
        assert cache.get(session.id) == response.json()["data"]


class TestHoldsAndRestores:
    def test_restore_while_held_then_lift_waits_for_a_new_notice(
        self, db, factory, settings, cache, user, old_session, now
    ):
        schedule_by_retention(factory, settings, now)
        soft_delete(factory, user, old_session.id, now + timedelta(days=1), settings)
        hold(factory, old_session.id, now + timedelta(days=2))
        restore(factory, user, old_session.id, now + timedelta(days=3), settings)
        lifted = now + timedelta(days=40)
        lift(factory, old_session.id, lifted, settings)
        run_purge(factory, settings, cache, lifted + GRACE)
        kept_without_notice = exists(db, old_session.id)
        noticed = lifted + timedelta(days=10)
        schedule_by_retention(factory, settings, noticed)

        run_purge(factory, settings, cache, noticed + GRACE - SECOND)
        kept = exists(db, old_session.id)
        run_purge(factory, settings, cache, noticed + GRACE)

        assert kept_without_notice
        assert kept
        assert not exists(db, old_session.id)
        [tombstone] = tombstones(db)
        assert tombstone.rows_removed["answers"] == 3

    def test_holds_set_and_lifted_twice_never_shorten_the_grace_period(
        self, db, factory, settings, cache, old_session, now
    ):
        schedule_by_retention(factory, settings, now)
        hold(factory, old_session.id, now + timedelta(days=1))
        lift(factory, old_session.id, now + timedelta(days=2), settings)
        schedule_by_retention(factory, settings, now + timedelta(days=3))
        hold(factory, old_session.id, now + timedelta(days=4))
        lifted = now + timedelta(days=5)
        lift(factory, old_session.id, lifted, settings)
        noticed = lifted + timedelta(hours=1)
        schedule_by_retention(factory, settings, noticed)

        run_purge(factory, settings, cache, noticed + GRACE - SECOND)

        session = reload(db, old_session.id)
        assert session is not None
        assert session.permanent_delete_at == noticed + GRACE
        assert [n.status for n in notices_of(db, old_session.id)] == [
            "SENT",
            "SENT",
            "SENT",
        ]

    def test_a_soft_deleted_session_goes_once_a_hold_lifted_after_its_deadline_allows(
        self, db, factory, settings, cache, user, now
    ):
        session = make_soft_deleted(db, user, deadline=now + timedelta(days=1))
        hold(factory, session.id, now)
        lifted = now + timedelta(days=90)
        lift(factory, session.id, lifted, settings)

        run_purge(factory, settings, cache, lifted + GRACE - SECOND)
        kept = child_rows(db, session.id)
        run_purge(factory, settings, cache, lifted + GRACE)

        assert kept == FULL_CHILDREN
        assert not exists(db, session.id)
        assert set(child_rows(db, session.id).values()) == {0}


class TestNotices:
    def test_a_notice_queued_before_a_soft_delete_and_restore_starts_grace_when_sent(
        self, db, factory, settings, cache, user, old_session, now
    ):
        run_retention(factory, settings, now)
        soft_delete(factory, user, old_session.id, now + timedelta(hours=1), settings)
        restore(factory, user, old_session.id, now + timedelta(hours=2), settings)
        sent = now + timedelta(hours=3)
        run_notices(factory, settings, sent)

        run_purge(factory, settings, cache, sent + GRACE - SECOND)

        session = reload(db, old_session.id)
        assert session is not None
        assert session.permanent_delete_at == sent + GRACE

    def test_a_notice_that_never_goes_out_never_lets_the_session_be_purged(
        self, db, factory, settings, cache, old_session, now
    ):
        run_retention(factory, settings, now)
        moment = now
        for _ in range(settings.notice_max_attempts):
            moment += timedelta(days=1)
            run_notices(factory, settings, moment, FailingChannel())
        run_retention(factory, settings, moment + timedelta(days=1))

        run_purge(factory, settings, cache, moment + timedelta(days=365))

        assert exists(db, old_session.id)
        assert [n.status for n in notices_of(db, old_session.id)] == ["FAILED"]
        backlog = service.backlog(
            db, now=moment + timedelta(days=365), overdue_after=timedelta(minutes=15)
        )
        assert backlog.notices_failed == 1
