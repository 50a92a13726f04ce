"""The trash: moving a session there, its permanent deletion date, restoring it,
and what the page says when a restore cannot be done."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from interview_retention.clock import utcnow
from interview_retention.sessions.models import InterviewSession
from tests.browser.support import notice, row, sign_in
from tests.deletion.support import make_soft_deleted
from tests.factories import make_session, make_user


def _open_trash(page):
    page.get_by_role("button", name="Trash", exact=True).click()
    expect(page.locator("#view-trash")).to_be_visible()
    expect(page.locator("#trash-body")).not_to_have_attribute("aria-busy", "true")


def _status(web_db, session_id):
    web_db.expire_all()
    session = web_db.get(InterviewSession, session_id)
    return None if session is None else session.status


def test_move_to_trash_then_see_it_with_its_deletion_date(page, web_db, shot):
    user, token = make_user(web_db)
    session = make_session(web_db, user)
    sign_in(page, token)

    row(page, session.id).get_by_role("button", name="Move to trash").click()

    expect(notice(page)).to_contain_text(
        "Moved to trash. It will be deleted for good on"
    )
    expect(notice(page)).to_contain_text("unless you restore it from the trash.")
    expect(row(page, session.id)).to_have_count(0)
    assert _status(web_db, session.id) == "DELETED"
    deadline = web_db.get(InterviewSession, session.id).permanent_delete_at
    assert timedelta(days=29, hours=23) < deadline - utcnow() <= timedelta(days=30)

    _open_trash(page)

    trashed = row(page, session.id, view="trash")
    expect(trashed).to_be_visible()
    expect(trashed.locator(".deadline")).to_contain_text(str(deadline.year))
    expect(trashed).to_contain_text("(in 30 days)")
    expect(trashed.get_by_role("button", name="Restore")).to_be_enabled()
    shot("trash")


def test_a_held_session_moved_to_trash_is_said_to_stay(page, web_db):
    user, token = make_user(web_db)
    session = make_session(web_db, user, legal_hold=True)
    sign_in(page, token)

    row(page, session.id).get_by_role("button", name="Move to trash").click()

    expect(notice(page)).to_have_text(
        "Moved to trash. It is under a legal hold, so it will not be deleted"
        " while the hold lasts."
    )
    assert _status(web_db, session.id) == "DELETED"


def test_the_trash_lists_only_the_users_own_deleted_sessions(page, web_db):
    user, token = make_user(web_db)
    other, _ = make_user(web_db)
    mine = make_soft_deleted(web_db, user, deadline=utcnow() + timedelta(days=3))
    theirs = make_soft_deleted(web_db, other, deadline=utcnow() + timedelta(days=3))
    live = make_session(web_db, user, children=False)
    sign_in(page, token)

    _open_trash(page)

    expect(page.locator("#trash-body tr")).to_have_count(1)
    expect(row(page, mine.id, view="trash")).to_contain_text("(in 3 days)")
    expect(row(page, theirs.id, view="trash")).to_have_count(0)
    expect(row(page, live.id, view="trash")).to_have_count(0)


def test_a_held_session_in_the_trash_shows_the_hold_not_a_date(page, web_db):
    user, token = make_user(web_db)
    held = make_soft_deleted(
        web_db,
        user,
        deadline=utcnow() + timedelta(days=3),
        legal_hold=True,
    )
    sign_in(page, token)

    _open_trash(page)

    expect(row(page, held.id, view="trash")).to_contain_text("Legal hold")
    expect(row(page, held.id, view="trash").locator(".deadline")).to_have_count(0)


def test_restore_brings_the_session_back_as_it_was(page, web_db, shot):
    user, token = make_user(web_db)
    session = make_soft_deleted(web_db, user, deadline=utcnow() + timedelta(days=3))
    sign_in(page, token)
    expect(page.locator("#sessions-empty")).to_be_visible()
    _open_trash(page)

    row(page, session.id, view="trash").get_by_role("button", name="Restore").click()

    expect(notice(page)).to_have_text(
        "Session restored: it is back in your sessions as evaluated."
    )
    expect(row(page, session.id, view="trash")).to_have_count(0)
    expect(page.locator("#trash-empty")).to_be_visible()
    assert _status(web_db, session.id) == "EVALUATED"
    shot("restored")

    page.get_by_role("button", name="Sessions", exact=True).click()
    expect(row(page, session.id)).to_be_visible()
    expect(row(page, session.id)).to_contain_text("Evaluated")


def test_a_session_purged_while_in_view_cannot_be_restored(page, web_db, shot):
    user, token = make_user(web_db)
    session = make_soft_deleted(web_db, user, deadline=utcnow() + timedelta(days=3))
    sign_in(page, token)
    _open_trash(page)
    # Gone behind the page's back, as the purge would leave it.
    web_db.delete(web_db.get(InterviewSession, session.id))
    web_db.commit()

    row(page, session.id, view="trash").get_by_role("button", name="Restore").click()

    expect(notice(page)).to_have_text("Not restored: Session not found")
    expect(row(page, session.id, view="trash").get_by_role("button")).to_be_enabled()
    assert _status(web_db, session.id) is None
    shot("not-restored")
