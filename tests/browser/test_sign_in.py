"""Signing in with a token, a wrong token, signing out, and a token that stops
working while the page is open."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from interview_retention.clock import utcnow
from interview_retention.users.service import revoke_token
from tests.browser.support import notice, row, sign_in
from tests.factories import make_session, make_user


def test_sign_in_with_a_good_token_lists_the_sessions(page, web_db, shot):
    user, token = make_user(web_db)
    user.display_name = "Ada Lovelace"
    web_db.commit()
    evaluated = make_session(web_db, user)
    scheduled = make_session(
        web_db,
        user,
        status="COMPLETED",
        children=False,
        permanent_delete_at=utcnow() + timedelta(days=5, hours=1),
        deletion_reason="RETENTION",
        retention_notice_at=utcnow(),
    )
    held = make_session(web_db, user, status="COMPLETED", children=False)
    held.legal_hold = True
    web_db.commit()
    failed = []
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto("/app/")
    shot("sign-in")

    sign_in(page, token)

    expect(page.locator("#account-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#sessions-body tr")).to_have_count(3)
    expect(row(page, evaluated.id)).to_contain_text("Evaluated")
    expect(row(page, evaluated.id).locator(".score")).to_have_text("7.5")
    expect(row(page, scheduled.id)).to_contain_text("(in 5 days)")
    expect(row(page, scheduled.id)).to_contain_text("GMT+1")
    expect(row(page, held.id)).to_contain_text("Legal hold")
    expect(page.locator("#zone-note")).to_contain_text("Europe/Berlin")
    expect(page.get_by_role("button", name="Admin")).to_be_hidden()
    assert page.evaluate("() => window.location.href").endswith("/app/")
    # Every file the page loads is there, its icon included.
    assert failed == []
    expect(page.locator('link[rel="icon"]')).to_have_attribute("href", "icon.svg")
    shot("list")


def test_sign_in_with_a_wrong_token_shows_the_api_message(page, web_db, shot):
    page.goto("/app/")

    page.get_by_label("API token").fill("irt_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#sign-in-error")).to_have_text("Invalid or revoked token")
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0
    shot("refused")


def test_sign_out_forgets_the_token(page, web_db):
    _, token = make_user(web_db)
    sign_in(page, token)

    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    page.reload()
    expect(page.locator("#sign-in")).to_be_visible()


def test_a_revoked_token_returns_to_sign_in_with_the_message(page, web_db, shot):
    user, token = make_user(web_db)
    make_session(web_db, user, children=False)
    sign_in(page, token)
    revoke_token(web_db, email=user.email)
    web_db.commit()

    page.get_by_role("button", name="Refresh").first.click()

    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-in-error")).to_have_text(
        "You have been signed out: Invalid or revoked token"
    )
    expect(notice(page)).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0
    shot("signed-out")
