"""Steps the browser tests share: signing in, finding a session's row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect


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
