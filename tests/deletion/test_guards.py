"""Guard rails of a batch: timeouts on PostgreSQL, backoff while the database
is busy, and each attempt a whole transaction."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from structlog.testing import capture_logs

from interview_retention.deletion import guards, heartbeats, jobs
from interview_retention.deletion.models import JobHeartbeat, JobRun
from interview_retention.users.models import Resume
from tests.deletion.support import FRESH, exists, make_soft_deleted


class FakeOrig(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def db_error(message: str, sqlstate: str | None = None) -> OperationalError:
    return OperationalError("SELECT 1", {}, FakeOrig(message, sqlstate))


def fast(settings, **overrides):
    """Settings whose backoff takes milliseconds, so tests do not wait."""
    values = {"batch_retry_base_ms": 1, "batch_retry_max_ms": 5, **overrides}
    return settings.model_copy(update=values)


class TestBusyReason:
    @pytest.mark.parametrize(
        ("sqlstate", "reason"),
        [
            ("55P03", "lock_not_available"),
            ("57014", "query_canceled"),
            ("40001", "serialization_failure"),
            ("40P01", "deadlock_detected"),
        ],
    )
    def test_postgresql_busy_codes(self, sqlstate, reason):
        assert guards.busy_reason(db_error("busy", sqlstate)) == reason

    def test_sqlite_locked_database_is_busy(self):
        assert guards.busy_reason(db_error("database is locked")) == "sqlite_busy"

    def test_other_database_errors_are_not_busy(self):
        assert guards.busy_reason(db_error("syntax error", "42601")) is None
        assert guards.busy_reason(IntegrityError("x", {}, FakeOrig("dup"))) is None

    def test_errors_outside_the_database_are_not_busy(self):
        assert guards.busy_reason(TimeoutError("database is locked")) is None


class TestRetryReason:
    def test_a_lost_connection_may_be_retried(self):
        lost = OperationalError(
            "SELECT 1",
            {},
            FakeOrig("server closed the connection"),
            connection_invalidated=True,
        )

        assert guards.busy_reason(lost) is None
        assert guards.retry_reason(lost) == "connection_lost"

    def test_a_database_that_cannot_be_reached_is_left_to_the_task(self):
        # SQLAlchemy does not mark a refused connection as invalidated: there was
        # no connection to lose.
        refused = db_error("connection refused")

        assert guards.retry_reason(refused) is None

    def test_busy_is_a_reason_too(self):
        assert guards.retry_reason(db_error("x", "40P01")) == "deadlock_detected"


class TestRunBatch:
    def test_busy_batch_is_retried_whole_and_then_commits(self, db, factory, settings):
        from tests.factories import make_user

        user, _ = make_user(db)
        attempts = []

        def step(batch_db):
            attempts.append(1)
            batch_db.add(Resume(user_id=user.id, title=f"attempt {len(attempts)}"))
            batch_db.flush()
            if len(attempts) < 3:
                raise db_error("canceling statement due to lock timeout", "55P03")
            return len(attempts)

        with capture_logs() as logs:
            result = guards.run_batch(
                factory, fast(settings), step, run_id="r", event="purge.batch"
            )

        assert result == 3
        # The two busy attempts rolled back what they wrote; only the third stays.
        titles = db.scalars(select(Resume.title).execution_options(**FRESH)).all()
        assert titles == ["attempt 3"]
        busy = [e for e in logs if e["event"] == "batch.database_busy"]
        assert [(e["attempt"], e["reason"]) for e in busy] == [
            (1, "lock_not_available"),
            (2, "lock_not_available"),
        ]

    def test_gives_up_after_the_attempts_and_raises_the_last_error(
        self, db, factory, settings
    ):
        attempts = []

        def step(batch_db):
            attempts.append(1)
            raise db_error("deadlock detected", "40P01")

        with pytest.raises(OperationalError):
            guards.run_batch(
                factory,
                fast(settings, batch_retry_attempts=4),
                step,
                run_id="r",
                event="e",
            )

        assert len(attempts) == 4

    def test_other_errors_are_not_retried(self, factory, settings):
        attempts = []

        def step(batch_db):
            attempts.append(1)
            raise db_error("relation does not exist", "42P01")

        with pytest.raises(OperationalError):
            guards.run_batch(factory, fast(settings), step, run_id="r", event="e")

        assert len(attempts) == 1

    def test_backoff_doubles_up_to_the_cap_with_jitter(
        self, factory, settings, monkeypatch
    ):
        slept = []
        monkeypatch.setattr(guards, "_sleep", slept.append)

        def step(batch_db):
            raise db_error("could not serialize access", "40001")

        with pytest.raises(OperationalError):
            guards.run_batch(
                factory,
                settings.model_copy(
                    update={
                        "batch_retry_attempts": 6,
                        "batch_retry_base_ms": 100,
                        "batch_retry_max_ms": 500,
                    }
                ),
                step,
                run_id="r",
                event="e",
            )

        # 0.1, 0.2, 0.4, then the 0.5 cap; each plus up to 0.1 of jitter.
        floors = [0.1, 0.2, 0.4, 0.5, 0.5]
        assert len(slept) == 5
        for waited, floor in zip(slept, floors, strict=True):
            assert floor <= waited <= floor + 0.1


@pytest.mark.postgres
class TestTimeoutsOnPostgreSQL:
    def test_each_batch_runs_under_its_statement_and_lock_timeouts(
        self, pg_factory, pg_settings
    ):
        settings = pg_settings.model_copy(
            update={"batch_statement_timeout_ms": 1234, "batch_lock_timeout_ms": 567}
        )

        def step(batch_db):
            return (
                batch_db.scalar(text("SHOW statement_timeout")),
                batch_db.scalar(text("SHOW lock_timeout")),
            )

        inside = guards.run_batch(pg_factory, settings, step, run_id="r", event="e")

        assert inside == ("1234ms", "567ms")

    def test_timeouts_end_with_the_batch(self, pg_factory, pg_settings):
        with pg_factory() as db:
            before = db.scalar(text("SHOW statement_timeout"))

        guards.run_batch(pg_factory, pg_settings, lambda db: 0, run_id="r", event="e")

        with pg_factory() as db:
            assert db.scalar(text("SHOW statement_timeout")) == before

    def test_a_slow_statement_is_cut_off_retried_and_reported(
        self, pg_factory, pg_settings
    ):
        settings = fast(
            pg_settings, batch_statement_timeout_ms=50, batch_retry_attempts=2
        )

        def step(batch_db):
            batch_db.execute(text("SELECT pg_sleep(2)"))
            return 1

        with capture_logs() as logs, pytest.raises(OperationalError) as raised:
            guards.run_batch(pg_factory, settings, step, run_id="r", event="e")

        assert guards.busy_reason(raised.value) == "query_canceled"
        assert [e["attempt"] for e in logs if e["event"] == "batch.database_busy"] == [
            1
        ]


class TableLock:
    """An ACCESS EXCLUSIVE lock on interview_sessions, held from another
    connection as a migration would hold it."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.connection = None
        self.lock = threading.Lock()

    def take(self) -> None:
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        self.connection.execute(
            text("LOCK TABLE interview_sessions IN ACCESS EXCLUSIVE MODE")
        )

    def release(self) -> None:
        with self.lock:
            if self.connection is not None:
                self.transaction.rollback()
                self.connection.close()
                self.connection = None


@pytest.fixture
def table_lock(pg_engine):
    lock = TableLock(pg_engine)
    yield lock
    lock.release()


@pytest.mark.postgres
class TestPurgeBehindALock:
    def test_purge_gives_up_cleanly_while_a_table_lock_is_held(
        self, pg_db, pg_factory, pg_settings, pg_cache, pg_user, table_lock
    ):
        now = pg_db.scalar(text("SELECT now()"))
        session = make_soft_deleted(pg_db, pg_user, deadline=now - timedelta(hours=1))
        pg_db.commit()
        settings = fast(pg_settings, batch_lock_timeout_ms=50, batch_retry_attempts=3)
        table_lock.take()

        with capture_logs() as logs, pytest.raises(OperationalError):
            jobs.run_job(
                "purge",
                lambda ctx: jobs.purge(ctx, cache=pg_cache),
                factory=pg_factory,
                settings=settings,
                run_id="locked-out",
                now=now,
            )
        table_lock.release()

        assert exists(pg_db, session.id)
        run = pg_db.scalars(
            select(JobRun).where(JobRun.id == "locked-out").execution_options(**FRESH)
        ).one()
        assert run.status == "FAILED"
        assert "LockNotAvailable" in run.error
        beat = pg_db.scalars(select(JobHeartbeat).execution_options(**FRESH)).one()
        assert beat.last_error == "OperationalError: LockNotAvailable (55P03)"
        assert beat.last_success_at is None
        busy = [e for e in logs if e["event"] == "batch.database_busy"]
        assert [e["reason"] for e in busy] == ["lock_not_available"] * 2

    def test_purge_waits_out_a_short_lock_and_finishes(
        self, pg_db, pg_factory, pg_settings, pg_cache, pg_user, table_lock
    ):
        now = pg_db.scalar(text("SELECT now()"))
        ids = [
            make_soft_deleted(pg_db, pg_user, deadline=now - timedelta(hours=i + 1)).id
            for i in range(3)
        ]
        pg_db.commit()
        settings = pg_settings.model_copy(
            update={
                "batch_lock_timeout_ms": 50,
                "batch_retry_attempts": 10,
                "batch_retry_base_ms": 50,
                "batch_retry_max_ms": 200,
            }
        )
        table_lock.take()
        threading.Timer(0.3, table_lock.release).start()

        with capture_logs() as logs:
            result = jobs.run_job(
                "purge",
                lambda ctx: jobs.purge(ctx, cache=pg_cache),
                factory=pg_factory,
                settings=settings,
                now=now,
            )

        assert result["purged"] == 3
        assert not any(exists(pg_db, sid) for sid in ids)
        assert any(e["event"] == "batch.database_busy" for e in logs)


def test_describe_keeps_a_database_errors_content_out():
    error = db_error("Key (email)=(ines@example.com) already exists", "23505")

    assert heartbeats.describe(error) == "OperationalError: FakeOrig (23505)"


def test_a_purge_batch_that_fails_busy_after_deleting_is_undone_and_redone(
    db, factory, settings, cache, user, now, monkeypatch
):
    from interview_retention.deletion import service
    from tests.deletion.support import tombstones

    ids = [
        make_soft_deleted(db, user, deadline=now - timedelta(minutes=m + 1)).id
        for m in range(3)
    ]
    real = service.purge_batch
    calls = []

    def busy_once(batch_db, **kwargs):
        batch = real(batch_db, **kwargs)
        calls.append(len(batch.purged))
        if len(calls) == 1:
            # Everything of the batch is done but the commit: then the database
            # gives up on a lock.
            raise db_error("canceling statement due to lock timeout", "55P03")
        return batch

    monkeypatch.setattr(service, "purge_batch", busy_once)

    result = jobs.run_job(
        "purge",
        lambda ctx: jobs.purge(ctx, cache=cache),
        factory=factory,
        settings=fast(settings),
        now=now,
    )

    assert calls[:2] == [3, 3]
    assert result["purged"] == 3
    assert not any(exists(db, sid) for sid in ids)
    assert sorted(t.session_id for t in tombstones(db)) == sorted(ids)


def cut_connection(engine, batch_db) -> None:
    """Terminate the backend of `batch_db`'s transaction from another connection,
    as an operator's pg_terminate_backend or a server restart would, and wait
    until it is gone."""
    pid = batch_db.scalar(text("SELECT pg_backend_pid()"))
    with engine.connect() as admin:
        assert admin.scalar(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})


@pytest.mark.postgres
class TestConnectionLost:
    def test_the_batch_is_redone_whole_on_a_fresh_connection(
        self, pg_db, pg_engine, pg_factory, pg_settings, pg_user
    ):
        backends = []

        def step(batch_db):
            backends.append(batch_db.scalar(text("SELECT pg_backend_pid()")))
            batch_db.add(Resume(user_id=pg_user.id, title=f"attempt {len(backends)}"))
            batch_db.flush()
            if len(backends) == 1:
                cut_connection(pg_engine, batch_db)
            return len(backends)

        with capture_logs() as logs:
            result = guards.run_batch(
                pg_factory, fast(pg_settings), step, run_id="r", event="e"
            )

        assert result == 2
        assert backends[0] != backends[1]
        # The first attempt's row went with its connection; only the second's is
        # committed.
        titles = pg_db.scalars(select(Resume.title).execution_options(**FRESH)).all()
        assert titles == ["attempt 2"]
        lost = [e for e in logs if e["event"] == "batch.connection_lost"]
        assert [(e["attempt"], e["reason"]) for e in lost] == [(1, "connection_lost")]

    def test_a_purge_keeps_its_place_and_its_limit_across_a_lost_connection(
        self, pg_db, pg_engine, pg_factory, pg_settings, pg_cache, pg_user, monkeypatch
    ):
        from interview_retention.deletion import service
        from tests.deletion.support import tombstones

        now = pg_db.scalar(text("SELECT now()"))
        ids = [
            make_soft_deleted(
                pg_db, pg_user, deadline=now - timedelta(minutes=m + 1)
            ).id
            for m in range(6)
        ]
        pg_db.commit()
        real = service.purge_batch
        purged = []

        def cut_in_the_second_batch(batch_db, **kwargs):
            batch = real(batch_db, **kwargs)
            purged.append(len(batch.purged))
            if len(purged) == 2:
                # The batch deleted its sessions and wrote their tombstones; the
                # connection goes before the commit.
                cut_connection(pg_engine, batch_db)
            return batch

        monkeypatch.setattr(service, "purge_batch", cut_in_the_second_batch)

        with capture_logs() as logs:
            result = jobs.run_job(
                "purge",
                lambda ctx: jobs.purge(ctx, cache=pg_cache, batch_size=2),
                factory=pg_factory,
                settings=fast(pg_settings),
                now=now,
                params={"limit": 4},
            )

        # One run, never failed: the cut batch was redone, and the limit counts
        # only what was committed.
        assert purged == [2, 2, 2]
        assert result["purged"] == 4
        assert sum(exists(pg_db, sid) for sid in ids) == 2
        gone = [sid for sid in ids if not exists(pg_db, sid)]
        assert sorted(t.session_id for t in tombstones(pg_db)) == sorted(gone)
        assert not [e for e in logs if e["event"] == "job.failed"]
        assert [e["reason"] for e in logs if e["event"] == "batch.connection_lost"] == [
            "connection_lost"
        ]
