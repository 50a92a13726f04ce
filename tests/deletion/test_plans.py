"""Dry-run plans: what each job would act on, the drift check, and a plan's run."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from interview_retention.deletion import jobs, plans
from interview_retention.deletion.models import DeletionPlan
from interview_retention.errors import Invalid, NotFound
from interview_retention.sessions import service as sessions
from tests.deletion.support import (
    FRESH,
    FailingChannel,
    RecordingChannel,
    add_notice,
    exists,
    make_soft_deleted,
    notices_of,
    reload,
    run_notices,
    run_retention,
    schedule_by_retention,
    seed_sessions,
    table_snapshot,
)
from tests.factories import make_session

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RETENTION = timedelta(days=90)


def snapshot(db) -> dict[str, list[str]]:
    return table_snapshot(db, skip=("deletion_plans",))


def preview(db, job, now, settings, **options) -> DeletionPlan:
    plan = plans.preview(db, job, now=now, settings=settings, **options)
    db.commit()
    return plan


def run_plan(factory, settings, now, plan, *, cache=None, channel=None, **params):
    """A plan's run as the worker does it, the body reading `planId`."""
    ctx = jobs.JobContext(
        factory=factory,
        settings=settings,
        run_id="plan-run",
        now=now,
        params={"planId": plan.id, **params},
        job=plan.job,
    )
    body = jobs.body_of(plan.job, cache=cache, channel=channel or RecordingChannel())
    return body(ctx)


def purge_some(factory, settings, cache, now, count):
    """Another purge run that gets through `count` of the due sessions."""
    ctx = jobs.JobContext(
        factory=factory,
        settings=settings,
        run_id="other-run",
        now=now,
        params={"limit": count},
        job="purge",
    )
    return jobs.purge(ctx, cache=cache)


def claim(db, plan, now, settings, run_id="run-1"):
    claimed = plans.claim(
        db, plan.id, job=plan.job, now=now, settings=settings, run_id=run_id
    )
    db.commit()
    return claimed


class TestPreviewPurge:
    def test_lists_the_due_sessions_in_deadline_order(self, db, user, now, settings):
        later = make_soft_deleted(db, user, deadline=now - HOUR)
        first = make_soft_deleted(db, user, deadline=now - 3 * HOUR)
        at_deadline = make_soft_deleted(db, user, deadline=now)
        make_soft_deleted(db, user, deadline=now + timedelta(seconds=1))
        make_soft_deleted(
            db, user, deadline=now - 5 * HOUR, legal_hold=True, legal_hold_at=now
        )
        make_session(db, user)

        plan = preview(db, "purge", now, settings)

        ids = [first.id, later.id, at_deadline.id]
        assert plan.session_ids == ids
        assert plan.item_count == 3
        assert plan.oldest_deadline == now - 3 * HOUR
        assert (
            plan.digest == hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
        )
        assert plan.as_of == now
        assert plan.executed_at is None
        assert plan.params == {
            "limit": settings.plan_max_items,
            "batchSize": None,
            "truncated": False,
        }

    def test_changes_nothing_but_its_own_row(self, db, user, now, settings):
        make_soft_deleted(db, user, deadline=now - HOUR)
        schedule_by_retention_ready = make_session(
            db, user, created_at=now - RETENTION - HOUR
        )
        before = snapshot(db)

        for job in ("purge", "retention", "notices"):
            preview(db, job, now, settings)

        assert snapshot(db) == before
        assert exists(db, schedule_by_retention_ready.id)
        assert len(db.scalars(select(DeletionPlan)).all()) == 3

    def test_limit_cuts_the_set_in_the_jobs_order(self, db, user, now, settings):
        made = [
            make_soft_deleted(db, user, deadline=now - i * HOUR, children=False)
            for i in range(1, 5)
        ]

        plan = preview(db, "purge", now, settings, limit=2)

        assert plan.session_ids == [made[3].id, made[2].id]
        assert plan.params["truncated"] is True
        assert plans.summary(plan)["truncated"] is True

    def test_plan_max_items_caps_every_plan(self, db, user, now, settings):
        for i in range(3):
            make_soft_deleted(db, user, deadline=now - i * HOUR, children=False)
        capped = settings.model_copy(update={"plan_max_items": 2})

        plan = preview(db, "purge", now, capped, limit=10)

        assert plan.item_count == 2
        assert plan.params["limit"] == 2
        assert plan.params["truncated"] is True

    def test_an_empty_set_is_an_empty_plan(self, db, now, settings):
        plan = preview(db, "purge", now, settings)

        assert plan.session_ids == []
        assert plan.oldest_deadline is None
        assert plan.digest == hashlib.sha256(b"").hexdigest()

    def test_unknown_job_is_refused(self, db, now, settings):
        with pytest.raises(Invalid):
            plans.preview(db, "vacuum", now=now, settings=settings)


class TestPreviewRetentionAndNotices:
    def test_retention_lists_what_the_rule_newly_covers(
        self, db, factory, user, now, settings
    ):
        newer = make_session(db, user, created_at=now - RETENTION - HOUR)
        older = make_session(db, user, created_at=now - RETENTION - 5 * HOUR)
        make_session(db, user, created_at=now - RETENTION)
        make_session(db, user, status="IN_PROGRESS", created_at=now - 2 * RETENTION)
        noticed = make_session(db, user, created_at=now - 2 * RETENTION)
        add_notice(db, noticed, next_attempt_at=now)

        plan = preview(db, "retention", now, settings)
        result = run_retention(factory, settings, now)

        assert plan.session_ids == [older.id, newer.id]
        # The rule first covered the oldest one 90 days after it was made.
        assert plan.oldest_deadline == now - 5 * HOUR
        assert result["queued"] == plan.item_count

    def test_notices_lists_the_sessions_whose_notice_would_go_out(
        self, db, factory, user, now, settings
    ):
        due = make_session(db, user, created_at=now - RETENTION - HOUR)
        retry = make_session(db, user, created_at=now - RETENTION - HOUR)
        waiting = make_session(db, user, created_at=now - RETENTION - HOUR)
        held = make_session(db, user, created_at=now - RETENTION - HOUR)
        add_notice(db, due, next_attempt_at=now - 2 * HOUR)
        add_notice(db, retry, status="RETRY", attempts=1, next_attempt_at=now - HOUR)
        add_notice(db, waiting, status="RETRY", attempts=1, next_attempt_at=now + HOUR)
        add_notice(db, held, next_attempt_at=now - 3 * HOUR)
        held.legal_hold = True
        db.commit()
        channel = RecordingChannel()

        plan = preview(db, "notices", now, settings)
        result = run_notices(factory, settings, now, channel)

        assert plan.session_ids == [due.id, retry.id]
        assert plan.oldest_deadline == now - 2 * HOUR
        assert sorted(m.session_id for m in channel.sent) == sorted(plan.session_ids)
        # The held session's notice is cancelled by the run, not sent: not planned.
        assert result["cancelled"] == 1


class TestCheck:
    def test_a_fresh_plan_has_no_drift(self, db, user, now, settings):
        make_soft_deleted(db, user, deadline=now - HOUR)
        plan = preview(db, "purge", now, settings)

        drift = plans.check(db, plan, now=now + HOUR, settings=settings)

        assert not drift
        assert drift.as_dict()["addedCount"] == drift.as_dict()["removedCount"] == 0

    def test_purge_drift_shows_sessions_that_joined_and_left(
        self, db, factory, user, now, settings, cache
    ):
        gone = make_soft_deleted(db, user, deadline=now - 2 * HOUR)
        kept = make_soft_deleted(db, user, deadline=now - HOUR)
        newly_due = make_soft_deleted(db, user, deadline=now + HOUR)
        plan = preview(db, "purge", now, settings)
        # Another run purges the oldest one meanwhile.
        purge_some(factory, settings, cache, now, 1)

        drift = plans.check(db, plan, now=now + HOUR, settings=settings)

        assert drift
        assert drift.added == [newly_due.id]
        assert drift.removed == [gone.id]
        data = drift.as_dict()
        assert data["addedCount"] == 1
        assert data["removed"] == [{"sessionId": gone.id, "why": "gone"}]
        assert data["planned"] == 2
        assert data["current"] == 2
        assert data["digest"] == plan.digest
        assert data["currentDigest"] == plans.digest_of([kept.id, newly_due.id])

    def test_retention_drift_after_a_restore_a_delete_and_a_hold(
        self, db, user, now, settings
    ):
        restored = make_session(
            db,
            user,
            created_at=now - RETENTION - HOUR,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=now - HOUR,
            permanent_delete_at=now + 29 * timedelta(days=1),
            deletion_reason="USER",
        )
        deleted = make_session(db, user, created_at=now - RETENTION - HOUR)
        held = make_session(db, user, created_at=now - RETENTION - 2 * HOUR)
        plan = preview(db, "retention", now, settings)
        assert set(plan.session_ids) == {deleted.id, held.id}

        sessions.restore(reload_in(db, restored.id), now=now, settings=settings)
        sessions.soft_delete(reload_in(db, deleted.id), now=now, settings=settings)
        db.commit()
        from interview_retention.deletion import service

        service.set_legal_hold(
            db,
            session_id=held.id,
            reason="audit",
            actor="admin:t",
            now=now,
            settings=settings,
        )
        db.commit()

        drift = plans.check(db, plan, now=now, settings=settings)

        assert drift.added == [restored.id]
        assert {r["sessionId"]: r["why"] for r in drift.as_dict()["removed"]} == {
            deleted.id: "changed",
            held.id: "legal_hold",
        }

    def test_the_check_keeps_the_plans_limit(self, db, user, now, settings):
        made = [
            make_soft_deleted(db, user, deadline=now - i * HOUR, children=False)
            for i in range(1, 4)
        ]
        plan = preview(db, "purge", now, settings, limit=2)
        make_soft_deleted(db, user, deadline=now + HOUR, children=False)

        drift = plans.check(db, plan, now=now + 2 * HOUR, settings=settings)

        # Sessions due later than the plan's last are beyond its limit: no drift.
        assert not drift
        assert plan.session_ids == [made[2].id, made[1].id]

    def test_lists_are_capped_and_counts_complete(self, db, user, now, settings):
        plan = preview(db, "purge", now, settings)
        seed_sessions(
            db,
            user,
            plans.DRIFT_SHOWN + 5,
            created_at=now - 40 * DAY,
            status="DELETED",
            deleted_at=now - 31 * DAY,
            permanent_delete_at=now - DAY,
            deletion_reason="USER",
        )

        data = plans.check(db, plan, now=now, settings=settings).as_dict()

        assert data["addedCount"] == plans.DRIFT_SHOWN + 5
        assert len(data["added"]) == plans.DRIFT_SHOWN


def reload_in(db, session_id):
    from interview_retention.sessions.models import InterviewSession

    query = select(InterviewSession).where(InterviewSession.id == session_id)
    return db.scalars(query.execution_options(**FRESH)).one()


class TestClaim:
    def test_marks_the_plan_run_once(self, db, user, now, settings):
        make_soft_deleted(db, user, deadline=now - HOUR)
        plan = preview(db, "purge", now, settings)

        claim(db, plan, now + HOUR, settings, run_id="run-1")

        stored = db.scalars(select(DeletionPlan).execution_options(**FRESH)).one()
        assert stored.executed_at == now + HOUR
        assert stored.executed_run_id == "run-1"
        with pytest.raises(plans.PlanRefused) as refused:
            plans.claim(
                db,
                plan.id,
                job="purge",
                now=now + HOUR,
                settings=settings,
                run_id="run-2",
            )
        assert "already run" in refused.value.message
        assert refused.value.data["executedRunId"] == "run-1"

    def test_a_drifted_plan_is_refused_and_left_unmarked(self, db, user, now, settings):
        plan = preview(db, "purge", now, settings)
        newly_due = make_soft_deleted(db, user, deadline=now + HOUR)

        with pytest.raises(plans.PlanRefused) as refused:
            plans.claim(
                db, plan.id, job="purge", now=now + HOUR, settings=settings, run_id="r"
            )
        db.rollback()

        assert refused.value.data["added"] == [newly_due.id]
        assert "drifted" in refused.value.message
        assert db.get(DeletionPlan, plan.id).executed_at is None

    @pytest.mark.parametrize(
        ("age", "refused"),
        [(timedelta(minutes=60), False), (timedelta(minutes=60, seconds=1), True)],
        ids=["at-max-age", "one-second-older"],
    )
    def test_a_stale_plan_is_refused(self, db, now, settings, age, refused):
        plan = preview(db, "purge", now, settings)

        if refused:
            with pytest.raises(plans.PlanRefused, match="stale"):
                claim(db, plan, now + age, settings)
        else:
            assert claim(db, plan, now + age, settings).executed_run_id == "run-1"

    def test_refused_and_kept_while_deletions_are_paused(self, db, now, settings):
        plan = preview(db, "purge", now, settings)
        paused = settings.model_copy(update={"deletions_paused": True})

        with pytest.raises(plans.PlanRefused, match="paused"):
            claim(db, plan, now, paused)
        db.rollback()

        assert claim(db, plan, now, settings).executed_run_id == "run-1"

    def test_a_plan_of_another_job_is_refused(self, db, now, settings):
        plan = preview(db, "retention", now, settings)

        with pytest.raises(Invalid, match="retention plan"):
            plans.claim(
                db, plan.id, job="purge", now=now, settings=settings, run_id="r"
            )

    @pytest.mark.parametrize("plan_id", ["no-such-plan", "x" * 40, "a\x00b"])
    def test_an_unknown_plan_is_not_found(self, db, now, settings, plan_id):
        with pytest.raises(NotFound, match="Plan not found"):
            plans.claim(
                db, plan_id, job="purge", now=now, settings=settings, run_id="r"
            )

    def test_release_gives_a_claim_back(self, db, now, settings):
        plan = preview(db, "purge", now, settings)
        claim(db, plan, now, settings, run_id="run-1")

        plans.release(db, plan.id, "run-1")
        db.commit()

        assert claim(db, plan, now, settings, run_id="run-2").executed_run_id == "run-2"


@pytest.mark.postgres
def test_two_claims_at_once_one_wins(pg_factory, pg_user, pg_settings, now):
    with pg_factory() as db:
        make_soft_deleted(db, pg_user, deadline=now - HOUR)
        plan = preview(db, "purge", now, pg_settings)
    outcome = {}

    def second() -> None:
        with pg_factory() as other:
            try:
                plans.claim(
                    other,
                    plan.id,
                    job="purge",
                    now=now,
                    settings=pg_settings,
                    run_id="b",
                )
                other.commit()
                outcome["b"] = "claimed"
            except plans.PlanRefused as exc:
                outcome["b"] = exc.message

    with pg_factory() as first:
        plans.claim(
            first, plan.id, job="purge", now=now, settings=pg_settings, run_id="a"
        )
        thread = threading.Thread(target=second)
        thread.start()
        # The second claim waits on the plan's row lock until the first commits.
        time.sleep(0.3)
        waiting = thread.is_alive()
        first.commit()
        thread.join(10)

    assert waiting
    assert "already run (run a)" in outcome["b"]


class TestPlanRun:
    def test_purges_the_plans_sessions_only(
        self, db, factory, user, now, settings, cache
    ):
        planned = [make_soft_deleted(db, user, deadline=now - i * HOUR) for i in (3, 2)]
        plan = preview(db, "purge", now, settings)
        # After the check: one planned session put on hold, one more now due.
        held = make_soft_deleted(db, user, deadline=now - HOUR)
        planned[0].legal_hold = True
        db.commit()

        result = run_plan(factory, settings, now, plan, cache=cache)

        assert exists(db, planned[0].id)
        assert not exists(db, planned[1].id)
        assert exists(db, held.id)
        assert result["purged"] == 1
        assert result["planned"] == 2
        assert result["skipped"] == 1
        assert result["plan_id"] == plan.id

    def test_walks_a_plan_in_slices_of_the_batch_size(
        self, db, factory, user, now, settings, cache
    ):
        made = [
            make_soft_deleted(db, user, deadline=now - i * HOUR, children=False)
            for i in range(1, 8)
        ]
        plan = preview(db, "purge", now, settings, limit=5)
        # Two planned sessions are gone before the run: their slice still counts.
        purge_some(factory, settings, cache, now, 2)

        result = run_plan(factory, settings, now, plan, cache=cache, batchSize=2)

        assert result["batches"] == 3
        assert result["purged"] == 3
        assert result["skipped"] == 2
        assert [exists(db, s.id) for s in made] == [True, True] + [False] * 5

    def test_queues_notices_for_the_plans_sessions_only(
        self, db, factory, user, now, settings
    ):
        planned = make_session(db, user, created_at=now - RETENTION - HOUR)
        plan = preview(db, "retention", now, settings)
        other = make_session(db, user, created_at=now - RETENTION - HOUR)

        result = run_plan(factory, settings, now, plan)

        assert len(notices_of(db, planned.id)) == 1
        assert notices_of(db, other.id) == []
        assert result["queued"] == 1
        assert result["skipped"] == 0

    def test_sends_the_plans_notices_only(self, db, factory, user, now, settings):
        first = make_session(db, user, created_at=now - RETENTION - HOUR)
        run_retention(factory, settings, now)
        plan = preview(db, "notices", now, settings)
        second = make_session(db, user, created_at=now - RETENTION - HOUR)
        run_retention(factory, settings, now)
        channel = RecordingChannel()

        result = run_plan(factory, settings, now, plan, channel=channel)

        assert [m.session_id for m in channel.sent] == [first.id]
        assert [n.status for n in notices_of(db, second.id)] == ["PENDING"]
        assert result["sent"] == 1
        assert result["planned"] == 1

    def test_a_failed_send_counts_as_attempted(self, db, factory, user, now, settings):
        make_session(db, user, created_at=now - RETENTION - HOUR)
        run_retention(factory, settings, now)
        plan = preview(db, "notices", now, settings)

        result = run_plan(factory, settings, now, plan, channel=FailingChannel())

        assert result["retried"] == 1
        assert result["skipped"] == 0


class TestLimit:
    def test_purge_stops_after_the_limit(self, db, factory, user, now, settings, cache):
        made = [
            make_soft_deleted(db, user, deadline=now - i * HOUR, children=False)
            for i in range(1, 6)
        ]
        ctx = jobs.JobContext(
            factory=factory,
            settings=settings,
            run_id="r",
            now=now,
            params={"limit": 3, "batchSize": 2},
            job="purge",
        )

        result = jobs.purge(ctx, cache=cache)

        assert result["purged"] == 3
        assert result["batches"] == 2
        # The oldest deadlines go first.
        assert [exists(db, s.id) for s in made] == [True, True, False, False, False]

    def test_retention_stops_after_the_limit(self, db, factory, user, now, settings):
        for _ in range(4):
            make_session(db, user, created_at=now - RETENTION - HOUR, children=False)
        ctx = jobs.JobContext(
            factory=factory,
            settings=settings,
            run_id="r",
            now=now,
            params={"limit": 3},
            job="retention",
        )

        assert jobs.retention(ctx)["queued"] == 3

    def test_notices_stops_after_the_limit(self, db, factory, user, now, settings):
        for _ in range(3):
            make_session(db, user, created_at=now - RETENTION - HOUR, children=False)
        run_retention(factory, settings, now)
        ctx = jobs.JobContext(
            factory=factory,
            settings=settings,
            run_id="r",
            now=now,
            params={"limit": 2, "batchSize": 1},
            job="notices",
        )

        result = jobs.notices(ctx, channel=RecordingChannel(), clock=lambda: now)

        assert result["sent"] == 2
        assert result["batches"] == 2


def test_a_dry_run_through_the_body_stores_a_plan_and_acts_on_nothing(
    db, factory, user, now, settings, cache
):
    session = make_soft_deleted(db, user, deadline=now - HOUR)
    before = snapshot(db)
    ctx = jobs.JobContext(
        factory=factory,
        settings=settings,
        run_id="r",
        now=now,
        params={"dryRun": True},
        job="purge",
    )

    result = jobs.purge(ctx, cache=cache)

    assert snapshot(db) == before
    assert result["dry_run"] is True
    assert result["count"] == 1
    stored = db.get(DeletionPlan, result["plan_id"])
    assert stored.session_ids == [session.id]


def test_schedule_then_plan_of_the_purge_after_grace(
    db, factory, user, now, settings, cache
):
    session = make_session(db, user, created_at=now - RETENTION - HOUR)
    schedule_by_retention(factory, settings, now)
    later = now + timedelta(days=7)

    plan = preview(db, "purge", later, settings)
    claim(db, plan, later, settings)
    run_plan(factory, settings, later, plan, cache=cache)

    assert plan.session_ids == [session.id]
    assert reload(db, session.id) is None
