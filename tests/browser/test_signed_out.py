"""Signing out while the page still has work in flight: a followed job run."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import due_sessions, open_admin, sign_in
from tests.factories import make_user


def test_signing_out_during_a_followed_run_sends_nothing_more(page, web_db, worker):
    _, admin = make_user(web_db, admin=True)
    due_sessions(web_db, 5)
    open_admin(page, admin)
    job = page.locator('article[data-job="purge"]')
    job.get_by_role("button", name="Run purge").click()
    expect(job.locator("[data-job-status]")).to_have_text(re.compile(r"^Running"))
    after: list[str] = []

    page.get_by_role("button", name="Sign out").click()
    page.on(
        "request",
        lambda request: after.append(
            f"{request.method} {request.url} {request.headers.get('authorization')}"
        ),
    )
    # Longer than a poll (1 s): a run still followed would have asked again.
    page.wait_for_timeout(2500)

    expect(page.locator("#sign-in")).to_be_visible()
    # A deliberate sign-out says nothing; no call goes out without a token (each
    # would count as a failed authentication of this address).
    expect(page.locator("#sign-in-error")).to_be_hidden()
    assert not [line for line in after if "/api/" in line], after


def test_a_second_user_in_the_tab_does_not_inherit_the_run(page, web_db, worker):
    _, admin = make_user(web_db, admin=True)
    _, user = make_user(web_db)
    due_sessions(web_db, 5)
    open_admin(page, admin)
    job = page.locator('article[data-job="purge"]')
    job.get_by_role("button", name="Run purge").click()
    expect(job.locator("[data-job-status]")).to_have_text(re.compile(r"^Running"))
    page.get_by_role("button", name="Sign out").click()
    after: list[str] = []
    page.on("request", lambda request: after.append(request.url))

    sign_in(page, user)
    page.wait_for_timeout(2500)

    assert not [url for url in after if "/api/admin/" in url], after
