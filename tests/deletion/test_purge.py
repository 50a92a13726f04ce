"""The purge job: due sessions go with every child row; a tombstone stays."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import event, func, select, update

from interview_retention.deletion import jobs, service
from interview_retention.deletion.models import DeletionLogEntry
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import Resume, User
from tests.deletion.support import (
    add_notice,
    child_rows,
    exists,
    make_soft_deleted,
    reload,
    run_purge,
    tombstones,
)
from tests.factories import make_resume, make_session, make_user


def test_purge_removes_every_child_row(db, factory, settings, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    add_notice(db, session, status="CANCELLED", next_attempt_at=now)

    run_purge(factory, settings, cache, now)

    assert not exists(db, session.id)
    assert child_rows(db, session.id) == {
        "questions": 0,
        "answers": 0,
        "evaluations": 0,
        "reports": 0,
        "deletion_notices": 0,
    }


def test_purge_keeps_resume_and_user(db, factory, settings, cache, user, now):
    resume = make_resume(db, user)
    session = make_soft_deleted(
        db, user, deadline=now - timedelta(hours=1), resume=resume
    )

    run_purge(factory, settings, cache, now)

    assert not exists(db, session.id)
    assert db.scalar(select(func.count()).where(Resume.id == resume.id)) == 1
    assert db.scalar(select(func.count()).where(User.id == user.id)) == 1


def test_purge_leaves_other_sessions_children_alone(
    db, factory, settings, cache, user, now
):
    due = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    kept = make_session(db, user, status="EVALUATED")

    run_purge(factory, settings, cache, now)

    assert not exists(db, due.id)
    assert child_rows(db, kept.id) == {
        "questions": 3,
        "answers": 3,
        "evaluations": 1,
        "reports": 1,
        "deletion_notices": 0,
    }


def test_purge_writes_one_tombstone_per_session(
    db, factory, settings, cache, user, now
):
    deadline = now - timedelta(hours=1)
    session = make_soft_deleted(db, user, deadline=deadline)
    add_notice(db, session, status="CANCELLED", next_attempt_at=now)

    run_purge(factory, settings, cache, now, run_id="run-42")

    [tombstone] = tombstones(db)
    assert tombstone.session_id == session.id
    assert tombstone.user_id == user.id
    assert tombstone.reason == "USER"
    assert tombstone.actor == "system:purge"
    assert tombstone.requested_at == deadline - timedelta(days=30)
    assert tombstone.purged_at == now
    assert tombstone.task_id == "run-42"
    assert tombstone.rows_removed == {
        "interview_sessions": 1,
        "questions": 3,
        "answers": 3,
        "evaluations": 1,
        "reports": 1,
        "deletion_notices": 1,
    }


def test_tombstone_keeps_no_content(db, factory, settings, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

    run_purge(factory, settings, cache, now)

    [tombstone] = tombstones(db)
    stored = repr(
        {c.key: getattr(tombstone, c.key) for c in DeletionLogEntry.__table__.c}
    )
    assert session.id in stored
    assert "A private answer" not in stored
    assert "closure" not in stored
    assert "Solid fundamentals" not in stored
    assert user.email not in stored


def test_purge_evicts_report_cache(db, factory, settings, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    cache.put(session.id, {"summary": "Good session"})

    run_purge(factory, settings, cache, now)

    assert cache.get(session.id) is None
    assert tombstones(db)[0].cache_keys_evicted == 1


def test_purge_counts_no_eviction_without_cache_entry(
    db, factory, settings, cache, user, now
):
    make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

    result = run_purge(factory, settings, cache, now)

    assert result["cache_keys_evicted"] == 0
    assert tombstones(db)[0].cache_keys_evicted == 0


def test_purge_works_in_batches_until_nothing_is_due(
    db, factory, settings, cache, user, now
):
    ids = [
        make_soft_deleted(
            db, user, deadline=now - timedelta(hours=i + 1), children=False
        ).id
        for i in range(7)
    ]
    small = settings.model_copy(update={"purge_batch_size": 3})

    result = run_purge(factory, small, cache, now)

    assert result["batches"] == 3
    assert result["purged"] == 7
    assert result["rows_removed"] == 7
    assert not any(exists(db, sid) for sid in ids)
    assert len(tombstones(db)) == 7


def test_purge_pauses_between_batches_after_each_commit(
    db, factory, settings, cache, user, now, monkeypatch
):
    for i in range(7):
        make_soft_deleted(
            db, user, deadline=now - timedelta(hours=i + 1), children=False
        )
    paced = settings.model_copy(update={"purge_batch_size": 3, "purge_pause_ms": 50})
    left_during_pauses = []

    def pause(seconds):
        # What another connection sees while the job waits: the last batch is
        # committed, so the pause holds no lock.
        with factory() as other:
            left = other.scalar(select(func.count()).select_from(InterviewSession))
        left_during_pauses.append((seconds, left))

    monkeypatch.setattr(jobs.time, "sleep", pause)

    result = run_purge(factory, paced, cache, now)

    assert result["purged"] == 7
    assert left_during_pauses == [(0.05, 4), (0.05, 1)]


def test_purge_does_not_pause_by_default(
    db, factory, settings, cache, user, now, monkeypatch
):
    for i in range(5):
        make_soft_deleted(
            db, user, deadline=now - timedelta(hours=i + 1), children=False
        )
    small = settings.model_copy(update={"purge_batch_size": 2})
    pauses = []
    monkeypatch.setattr(jobs.time, "sleep", pauses.append)

    result = run_purge(factory, small, cache, now)

    assert result["batches"] == 3
    assert pauses == []


def test_purge_reports_rows_removed(db, factory, settings, cache, user, now):
    make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    make_soft_deleted(db, user, deadline=now - timedelta(hours=2))

    result = run_purge(factory, settings, cache, now)

    assert result["purged"] == 2
    assert result["rows_removed"] == 2 * (1 + 3 + 3 + 1 + 1)


def test_purge_leaves_session_without_deadline(db, factory, settings, cache, user, now):
    session = make_session(db, user, created_at=now - timedelta(days=400))

    run_purge(factory, settings, cache, now)

    assert exists(db, session.id)
    assert tombstones(db) == []


def test_purge_leaves_session_with_deadline_ahead(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now + timedelta(hours=1))

    run_purge(factory, settings, cache, now)

    assert exists(db, session.id)


def test_purge_leaves_session_one_second_before_deadline(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now + timedelta(seconds=1))

    run_purge(factory, settings, cache, now)

    assert exists(db, session.id)
    assert child_rows(db, session.id)["answers"] == 3


def test_purge_takes_session_exactly_at_deadline(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now)

    run_purge(factory, settings, cache, now)

    assert not exists(db, session.id)
    assert [t.session_id for t in tombstones(db)] == [session.id]


def test_purge_leaves_held_session_past_deadline(
    db, factory, settings, cache, user, now
):
    session = make_soft_deleted(
        db, user, deadline=now - timedelta(days=10), legal_hold=True
    )

    run_purge(factory, settings, cache, now)

    assert exists(db, session.id)
    assert child_rows(db, session.id)["questions"] == 3
    assert tombstones(db) == []


def test_purge_records_retention_reason(db, factory, settings, cache, user, now):
    noticed = now - timedelta(days=7, hours=1)
    session = make_session(
        db,
        user,
        created_at=now - timedelta(days=100),
        retention_notice_at=noticed,
        permanent_delete_at=noticed + timedelta(days=7),
        deletion_reason="RETENTION",
    )

    run_purge(factory, settings, cache, now)

    [tombstone] = tombstones(db)
    assert tombstone.session_id == session.id
    assert tombstone.reason == "RETENTION"
    assert tombstone.requested_at == noticed


def test_second_purge_changes_nothing(db, factory, settings, cache, user, now):
    make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    kept = make_soft_deleted(db, user, deadline=now + timedelta(hours=1))
    run_purge(factory, settings, cache, now)
    before = [(t.id, t.session_id) for t in tombstones(db)]

    result = run_purge(factory, settings, cache, now)

    assert result["purged"] == 0
    assert result["batches"] == 0
    assert [(t.id, t.session_id) for t in tombstones(db)] == before
    assert exists(db, kept.id)


def test_purge_handles_everything_overdue_after_missed_runs(
    db, factory, settings, cache, user, now
):
    ids = [
        make_soft_deleted(
            db, user, deadline=now - timedelta(days=days), children=False
        ).id
        for days in (1, 30, 365)
    ]

    result = run_purge(factory, settings, cache, now)

    assert result["purged"] == 3
    assert not any(exists(db, sid) for sid in ids)


def test_purge_batch_rechecks_rows_that_changed_after_claim(
    db, factory, cache, user, now
):
    session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    restored_before_delete = []

    def restore_meanwhile(state):
        # What a restore that slipped in between the claim and the delete would
        # leave behind; nothing locks the row on SQLite.
        if state.is_delete and not restored_before_delete:
            restored_before_delete.append(True)
            state.session.execute(
                update(InterviewSession)
                .where(InterviewSession.id == session.id)
                .values(status="EVALUATED", permanent_delete_at=None, deleted_at=None)
            )

    with factory.begin() as work_db:
        event.listen(work_db, "do_orm_execute", restore_meanwhile)
        batch = service.purge_batch(
            work_db, now=now, batch_size=10, cache=cache, task_id=None
        )

    assert restored_before_delete
    assert batch.claimed == 1
    assert batch.purged == []
    restored = reload(db, session.id)
    assert restored is not None
    assert restored.status == "EVALUATED"
    assert child_rows(db, session.id)["answers"] == 3
    assert tombstones(db) == []


def test_purge_of_one_user_leaves_other_users_alone(
    db, factory, settings, cache, user, now
):
    other, _ = make_user(db)
    make_soft_deleted(db, user, deadline=now - timedelta(hours=1))
    theirs = make_session(db, other)

    run_purge(factory, settings, cache, now)

    remaining = db.scalar(select(func.count()).select_from(InterviewSession))
    assert remaining == 1
    assert exists(db, theirs.id)


def test_a_user_deletion_kept_at_the_rules_earlier_deadline_is_dated_by_the_notice(
    db, factory, settings, cache, user, now
):
    noticed = now - timedelta(days=7)
    session = make_session(
        db,
        user,
        status="DELETED",
        status_before_deletion="EVALUATED",
        created_at=now - timedelta(days=100),
        deleted_at=now - timedelta(days=1),
        retention_notice_at=noticed,
        permanent_delete_at=noticed + timedelta(days=7),
        deletion_reason="RETENTION",
    )

    run_purge(factory, settings, cache, now)

    [tombstone] = tombstones(db)
    assert tombstone.session_id == session.id
    assert (tombstone.reason, tombstone.requested_at) == ("RETENTION", noticed)


class _TickingCache:
    """A report cache whose every eviction moves the frozen clock on a minute."""

    def __init__(self, inner, frozen) -> None:
        self.inner, self.frozen = inner, frozen

    def evict(self, session_ids):
        self.frozen.tick(timedelta(minutes=1))
        return self.inner.evict(session_ids)


def test_a_run_keeps_the_instant_it_started_with(
    db, factory, settings, cache, user, now
):
    due = [
        make_soft_deleted(db, user, deadline=now - timedelta(hours=h))
        for h in (1, 2, 3)
    ]
    later = make_soft_deleted(db, user, deadline=now + timedelta(seconds=30))

    with freeze_time(now) as frozen:
        result = jobs.run_job(
            "purge",
            lambda ctx: jobs.purge(
                ctx, cache=_TickingCache(cache, frozen), batch_size=1
            ),
            factory=factory,
            settings=settings,
        )

    assert result["purged"] == 3
    assert result["batches"] == 3
    assert {t.session_id for t in tombstones(db)} == {s.id for s in due}
    assert exists(db, later.id)
