"""The sessions list: one request for a page, and the latest answer shown."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from interview_retention.clock import utcnow
from tests.browser.support import row, sign_in, until
from tests.factories import make_session, make_user


def test_a_page_of_sessions_is_one_request_scores_and_all(page, web_db):
    user, token = make_user(web_db)
    sessions = [
        make_session(web_db, user, created_at=utcnow() - timedelta(hours=h))
        for h in range(3)
    ]
    api_paths = []
    page.on(
        "request",
        lambda r: (
            api_paths.append(re.sub(r"^https?://[^/]+", "", r.url))
            if "/api/" in r.url
            else None
        ),
    )

    sign_in(page, token)

    for session in sessions:
        expect(row(page, session.id).locator(".score")).to_have_text("7.5")
    sessions_calls = [p for p in api_paths if p.startswith("/api/interview/")]
    assert sessions_calls == ["/api/interview/sessions?page=1&pageSize=20"]


def test_an_answer_older_than_the_shown_one_is_dropped(page, web_db):
    user, token = make_user(web_db)
    first = make_session(web_db, user, children=False)
    sign_in(page, token)
    held_back = []

    def hold_first(route):
        if held_back:
            route.continue_()
        else:
            # Read now, with one session; handed to the page only later.
            held_back.append((route, route.fetch()))

    page.route("**/api/interview/sessions?*", hold_first)
    refresh = page.get_by_role("button", name="Refresh").first
    refresh.click()
    until(page, lambda: len(held_back) == 1)
    second = make_session(web_db, user, children=False)
    refresh.click()
    expect(row(page, second.id)).to_be_visible()

    stale_route, stale_answer = held_back[0]
    stale_route.fulfill(response=stale_answer)
    page.wait_for_load_state("networkidle")

    expect(page.locator("#sessions-body tr")).to_have_count(2)
    expect(row(page, first.id)).to_be_visible()
    expect(row(page, second.id)).to_be_visible()
