"""Steps the browser tests share: signing in, finding a session's row, due
sessions and the admin view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from interview_retention.clock import utcnow
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user


def sign_in(page: Any, token: str) -> None:
    """Sign in on the page with `token` and wait for the sessions list."""
    page.goto("/app/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator("#sessions-body")).not_to_have_attribute("aria-busy", "true")


def row(page: Any, session_id: str, view: str = "sessions") -> Any:
    return page.locator(f'#{view}-body tr[data-session-id="{session_id}"]')


def notice(page: Any) -> Any:
    return page.locator("#notice-text")


def until(page: Any, condition: Callable[[], bool], timeout_ms: int = 10_000) -> None:
    """Wait, letting the page's events through, until `condition()` holds."""
    waited = 0
    while not condition():
        assert waited < timeout_ms, "the page never got there"
        page.wait_for_timeout(50)
        waited += 50


def open_admin(page: Any, token: str) -> None:
    sign_in(page, token)
    page.get_by_role("button", name="Admin", exact=True).click()
    expect(page.locator("#view-admin")).to_be_visible()


def due_sessions(db: Any, count: int) -> list[str]:
    """The ids of `count` soft-deleted sessions of a new user, due an hour ago."""
    owner, _ = make_user(db)
    return [
        make_soft_deleted(db, owner, deadline=utcnow() - timedelta(hours=1)).id
        for _ in range(count)
    ]
