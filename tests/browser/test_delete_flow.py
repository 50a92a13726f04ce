"""The seed page's delete flow: the dialog, Cancel, Delete Only, Export & Delete,
an export that fails, a delete that fails, and a 404 that counts as deleted."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import expect
from pypdf import PdfReader

from interview_retention.sessions.models import InterviewSession
from tests.browser.support import notice, row, sign_in, until
from tests.factories import auth, make_session, make_user

DIALOG = "#delete-dialog"


def _signed_in_with_one_session(page, web_db):
    user, token = make_user(web_db)
    session = make_session(web_db, user)
    sign_in(page, token)
    return session, token


def _open_dialog(page, session_id):
    row(page, session_id).get_by_role("button", name="Delete session").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    return dialog


def _delete_behind_the_pages_back(live_app, session_id, token):
    """Delete through the API, as another tab would, after the page listed it."""
    gone = httpx.delete(
        f"{live_app.url}/api/interview/sessions/{session_id}", headers=auth(token)
    )
    assert gone.status_code == 200


def _still_there(web_db, session_id) -> bool:
    web_db.expire_all()
    return web_db.get(InterviewSession, session_id) is not None


def test_the_dialog_lists_what_will_be_deleted(page, web_db, shot):
    session, _ = _signed_in_with_one_session(page, web_db)

    dialog = _open_dialog(page, session.id)

    expect(dialog.get_by_role("heading")).to_have_text("Delete Interview Session?")
    expect(dialog).to_contain_text("This action cannot be undone.")
    items = dialog.locator("#delete-items li")
    expect(items.nth(0)).to_have_text(
        "3 questions (2 asked, 1 follow-up) and 3 answers"
    )
    expect(items.nth(1)).to_have_text(
        "Evaluation scores and feedback (overall score 7.5)"
    )
    expect(items.nth(2)).to_have_text("Generated reports and their cached copies")
    expect(dialog).to_contain_text("Your resume is not deleted")
    buttons = dialog.get_by_role("button")
    expect(buttons).to_have_text(["Cancel", "Export & Delete", "Delete Only"])
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    shot("dialog")


def test_cancel_deletes_nothing(page, web_db):
    session, _ = _signed_in_with_one_session(page, web_db)
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Cancel").click()

    expect(dialog).to_be_hidden()
    expect(row(page, session.id)).to_be_visible()
    expect(
        row(page, session.id).get_by_role("button", name="Delete session")
    ).to_be_focused()
    assert _still_there(web_db, session.id)


def test_escape_is_cancel(page, web_db):
    session, _ = _signed_in_with_one_session(page, web_db)
    dialog = _open_dialog(page, session.id)

    page.keyboard.press("Escape")

    expect(dialog).to_be_hidden()
    expect(row(page, session.id)).to_be_visible()
    assert _still_there(web_db, session.id)


def test_delete_only_removes_the_row_at_once_and_the_session(page, web_db, shot):
    session, _ = _signed_in_with_one_session(page, web_db)
    held = []
    # The DELETE is held back until the test lets it go, to see the row gone first.
    page.route(
        f"**/api/interview/sessions/{session.id}",
        lambda route: (
            held.append(route)
            if route.request.method == "DELETE"
            else route.continue_()
        ),
    )
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Delete Only").click()

    expect(row(page, session.id)).to_have_count(0)
    until(page, lambda: len(held) == 1)
    assert _still_there(web_db, session.id)
    shot("row-gone-before-answer")
    held[0].continue_()
    expect(notice(page)).to_have_text("Session deleted successfully")
    expect(row(page, session.id)).to_have_count(0)
    assert not _still_there(web_db, session.id)
    shot("deleted")


def test_export_failing_stops_the_delete(page, web_db, shot):
    session, _ = _signed_in_with_one_session(page, web_db)
    held = []
    page.route("**/report/export", lambda route: held.append(route))
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Export & Delete").click()

    expect(dialog.locator("#delete-progress")).to_have_text("Exporting the report…")
    for name in ("Cancel", "Export & Delete", "Delete Only"):
        expect(dialog.get_by_role("button", name=name)).to_be_disabled()
    shot("exporting")
    held[0].fulfill(
        status=500,
        content_type="application/json",
        body=json.dumps({"code": 500, "message": "Server error", "data": None}),
    )
    expect(dialog.locator("#delete-error")).to_have_text(
        "Export failed. Session not deleted."
    )
    expect(dialog.get_by_role("button", name="Delete Only")).to_be_enabled()
    expect(row(page, session.id)).to_be_visible()
    assert _still_there(web_db, session.id)
    shot("export-failed")


def test_export_answering_404_means_the_session_is_already_gone(page, web_db, live_app):
    session, token = _signed_in_with_one_session(page, web_db)
    _delete_behind_the_pages_back(live_app, session.id, token)
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Export & Delete").click()

    expect(dialog).to_be_hidden()
    expect(notice(page)).to_have_text(
        "The session was already deleted; there was no report left to export"
    )
    expect(row(page, session.id)).to_have_count(0)


def test_export_and_delete_downloads_the_pdf_then_deletes(page, web_db, shot):
    session, _ = _signed_in_with_one_session(page, web_db)
    dialog = _open_dialog(page, session.id)

    with page.expect_download() as waiting:
        dialog.get_by_role("button", name="Export & Delete").click()

    download = waiting.value
    pdf = PdfReader(download.path())
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "What is a closure?" in text
    assert download.suggested_filename.endswith(".pdf")
    expect(notice(page)).to_have_text("Session deleted successfully")
    expect(row(page, session.id)).to_have_count(0)
    assert not _still_there(web_db, session.id)
    shot("exported-and-deleted")


def test_a_failed_delete_brings_the_row_back_with_the_message(page, web_db, shot):
    session, _ = _signed_in_with_one_session(page, web_db)
    page.route(
        f"**/api/interview/sessions/{session.id}",
        lambda route: (
            route.fulfill(
                status=500,
                content_type="application/json",
                body=json.dumps({"code": 500, "message": "Server error", "data": None}),
            )
            if route.request.method == "DELETE"
            else route.continue_()
        ),
    )
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Delete Only").click()

    expect(notice(page)).to_have_text("Session not deleted: Server error")
    expect(row(page, session.id)).to_be_visible()
    expect(row(page, session.id)).to_have_class("row-failed")
    assert _still_there(web_db, session.id)
    shot("row-back")


def test_a_session_on_legal_hold_comes_back_with_the_409_message(page, web_db):
    user, token = make_user(web_db)
    session = make_session(web_db, user)
    sign_in(page, token)
    # The hold is set after the list was read: the page learns of it from DELETE.
    session.legal_hold = True
    web_db.commit()
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Delete Only").click()

    expect(notice(page)).to_have_text(
        "Session not deleted: Session is under legal hold and cannot be deleted"
    )
    expect(row(page, session.id)).to_be_visible()
    assert _still_there(web_db, session.id)


def test_a_session_already_deleted_counts_as_deleted(page, web_db, live_app):
    session, token = _signed_in_with_one_session(page, web_db)
    _delete_behind_the_pages_back(live_app, session.id, token)
    dialog = _open_dialog(page, session.id)

    dialog.get_by_role("button", name="Delete Only").click()

    expect(notice(page)).to_have_text("Session deleted successfully")
    expect(row(page, session.id)).to_have_count(0)
