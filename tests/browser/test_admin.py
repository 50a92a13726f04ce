"""The admin view: the backlog, the sessions on hold, setting and lifting a hold,
and running a job (or a dry run of it) with its progress followed to the end."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import func, select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import JobRun
from interview_retention.sessions.models import InterviewSession
from tests.browser.support import due_sessions, open_admin
from tests.factories import make_session, make_user


def _stat(page, key):
    return page.locator(f'#backlog [data-stat="{key}"] dd')


def _sessions_left(web_db, ids):
    web_db.expire_all()
    S = InterviewSession
    return web_db.scalar(select(func.count()).select_from(S).where(S.id.in_(ids)))


def _planned_purge(page, web_db):
    """Three due sessions, and the purge card after a dry run listed them."""
    _, admin = make_user(web_db, admin=True)
    ids = due_sessions(web_db, 3)
    open_admin(page, admin)
    job = page.locator('article[data-job="purge"]')
    job.get_by_label("Dry run").check()
    job.get_by_role("button", name="Run purge").click()
    expect(job.locator("[data-job-status]")).to_contain_text("would act on 3 sessions")
    return job, ids


def test_the_backlog_and_the_sessions_on_hold(page, web_db, shot):
    _, admin = make_user(web_db, admin=True)
    owner, _ = make_user(web_db)
    due_sessions(web_db, 3)
    held = make_session(web_db, owner, children=False)
    make_session(web_db, owner, children=False)

    open_admin(page, admin)
    page.locator("#hold-session").fill(held.id)
    page.locator("#hold-reason").fill("Litigation hold, case 2026-17")
    page.get_by_role("button", name="Set hold").click()

    expect(page.locator("#hold-result")).to_have_text(
        f"Session {held.id} is on legal hold."
    )
    expect(page.locator("#hold-history li")).to_have_count(1)
    expect(page.locator("#hold-history li")).to_contain_text(
        "Set by admin:", use_inner_text=True
    )
    expect(_stat(page, "dueNow")).to_have_text("3")
    expect(_stat(page, "legalHolds")).to_have_text("1")
    holds = page.locator("#holds-body tr")
    expect(holds).to_have_count(1)
    expect(holds).to_contain_text("Litigation hold, case 2026-17")
    expect(holds).to_contain_text("EVALUATED")
    web_db.expire_all()
    assert web_db.get(InterviewSession, held.id).legal_hold is True
    shot("backlog-and-holds")

    page.get_by_role("button", name="Lift hold").click()

    expect(page.locator("#hold-result")).to_have_text(
        f"The hold on session {held.id} is lifted."
    )
    expect(page.locator("#holds-empty")).to_be_visible()
    expect(_stat(page, "legalHolds")).to_have_text("0")
    web_db.expire_all()
    assert web_db.get(InterviewSession, held.id).legal_hold is False


def test_an_answer_read_before_a_hold_does_not_hide_it(page, web_db):
    _, admin = make_user(web_db, admin=True)
    owner, _ = make_user(web_db)
    session = make_session(web_db, owner, children=False)
    held_back = []

    def hold_first(route):
        if held_back:
            route.continue_()
        else:
            # Read now, before the hold; handed to the page only later.
            held_back.append((route, route.fetch()))

    # The view's first list of holds, read before the hold is set, reaches the
    # page after the list read once it was set.
    page.route("**/api/admin/legal-holds*", hold_first)
    open_admin(page, admin)
    page.locator("#hold-session").fill(session.id)
    page.locator("#hold-reason").fill("Litigation hold, case 2026-17")
    page.get_by_role("button", name="Set hold").click()
    expect(page.locator("#holds-body tr")).to_have_count(1)

    stale_route, stale_answer = held_back[0]
    stale_route.fulfill(response=stale_answer)
    page.wait_for_load_state("networkidle")

    expect(page.locator("#holds-body tr")).to_have_count(1)
    expect(_stat(page, "legalHolds")).to_have_text("1")


def test_a_hold_needs_an_id_and_a_reason(page, web_db):
    _, admin = make_user(web_db, admin=True)
    open_admin(page, admin)

    page.locator("#hold-session").fill("not-a-session")
    page.get_by_role("button", name="Set hold").click()
    expect(page.locator("#hold-result")).to_have_text(
        "Enter the session ID and a reason of at least 3 characters."
    )

    page.locator("#hold-reason").fill("A real reason")
    page.get_by_role("button", name="Set hold").click()
    expect(page.locator("#hold-result")).to_have_text("Session not found")


def test_running_the_purge_shows_its_progress_to_the_end(page, web_db, worker, shot):
    _, admin = make_user(web_db, admin=True)
    ids = due_sessions(web_db, 5)
    open_admin(page, admin)
    expect(_stat(page, "dueNow")).to_have_text("5")
    job = page.locator('article[data-job="purge"]')

    job.get_by_role("button", name="Run purge").click()

    line = job.locator("[data-job-status]")
    bar = job.locator("progress")
    # Batches of 2 with a pause between them: the page sees the run part way.
    expect(line).to_have_text(
        re.compile(r"^Running: processed [24], deleted [24], failed 0, remaining [31]$")
    )
    expect(job.get_by_role("button", name="Run purge")).to_be_disabled()
    shot("purge-running", job)
    assert 0 < float(bar.get_attribute("value")) < float(bar.get_attribute("max"))

    expect(line).to_have_text(
        "Done: processed 5, deleted 5, failed 0, remaining 0", timeout=30_000
    )
    expect(bar).to_have_attribute("value", "1")
    expect(_stat(page, "dueNow")).to_have_text("0")
    expect(job.get_by_role("button", name="Run purge")).to_be_enabled()
    assert _sessions_left(web_db, ids) == 0
    shot("purge-done", job)


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(
    page, web_db, worker, shot
):
    _, admin = make_user(web_db, admin=True)
    ids = due_sessions(web_db, 3)
    open_admin(page, admin)
    job = page.locator('article[data-job="purge"]')

    job.get_by_label("Dry run").check()
    job.get_by_role("button", name="Run purge").click()

    expect(job.locator("[data-job-status]")).to_have_text(
        re.compile(
            r"^Dry run: the purge job would act on 3 sessions; the oldest deadline"
            r" is .+\. Nothing was changed\.$"
        )
    )
    assert _sessions_left(web_db, ids) == 3
    web_db.expire_all()
    assert web_db.scalar(select(func.count()).select_from(JobRun)) == 0
    shot("dry-run", job)


def test_a_dry_run_plan_runs_as_it_was_listed(page, web_db, worker, shot):
    job, ids = _planned_purge(page, web_db)

    job.get_by_role("button", name="Run this plan").click()

    expect(job.locator("[data-job-status]")).to_have_text(
        "Done: processed 3, deleted 3, failed 0, remaining 0", timeout=30_000
    )
    expect(job.get_by_role("button", name="Run this plan")).to_be_hidden()
    assert _sessions_left(web_db, ids) == 0
    shot("plan-done", job)


def test_a_plan_whose_set_changed_is_refused(page, web_db, worker):
    job, ids = _planned_purge(page, web_db)
    # One of the planned sessions is put on hold after the plan was made.
    web_db.get(InterviewSession, ids[0]).legal_hold = True
    web_db.commit()

    job.get_by_role("button", name="Run this plan").click()

    expect(job.locator("[data-job-status]")).to_have_text(
        "Not run: The purge set has drifted since the plan was made: 0 added,"
        " 1 removed; review a new dry run"
    )
    assert _sessions_left(web_db, ids) == 3


def test_a_notices_run_counts_what_it_sent(page, web_db, worker):
    _, admin = make_user(web_db, admin=True)
    owner, _ = make_user(web_db)
    make_session(web_db, owner, created_at=utcnow() - timedelta(days=100))
    open_admin(page, admin)

    for job, name, done in (
        ("retention", "Run retention rule", "queued 1"),
        ("notices", "Run notices", "sent 1"),
    ):
        card = page.locator(f'article[data-job="{job}"]')
        card.get_by_role("button", name=name).click()
        expect(card.locator("[data-job-status]")).to_have_text(
            re.compile(rf"^Done: processed 1, {done}, failed 0"), timeout=30_000
        )


def test_a_job_the_broker_refuses_says_so(page, web_db, monkeypatch):
    from interview_retention.worker.tasks import TASKS

    def refuse(*args, **kwargs):
        raise ConnectionError("broker away")

    monkeypatch.setattr(TASKS["retention"], "apply_async", refuse)
    _, admin = make_user(web_db, admin=True)
    open_admin(page, admin)
    job = page.locator('article[data-job="retention"]')

    job.get_by_role("button", name="Run retention rule").click()

    expect(job.locator("[data-job-status]")).to_have_text(re.compile(r"^Failed"))
    expect(job.get_by_role("button", name="Run retention rule")).to_be_enabled()
