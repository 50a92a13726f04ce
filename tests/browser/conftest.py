"""Browser tests: the page in Debian's Chromium, driven by Playwright, against the
API under a real uvicorn on a free loopback port and this worker's PostgreSQL.

One browser and one server per test worker; a new browser context (cookies,
sessionStorage, downloads) per test. Nothing here downloads a browser: a missing
/usr/bin/chromium fails the run with the command that installs it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.api.app import create_app
from interview_retention.config import Settings
from interview_retention.sessions.cache import RedisReportCache
from tests.conftest import ROOT, _engine_for, _settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# Generous for a shared two-core machine; a passing step takes far less.
STEP_MS = 10_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class LiveApp:
    url: str
    app: FastAPI
    settings: Settings
    engine: Engine
    cache: RedisReportCache


@dataclass
class Watch:
    """What the page said that no test expects: uncaught errors, CSP refusals."""

    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium."
            " Install it with `apt-get install -y chromium chromium-driver`"
            " (as root; `make browser` does it), never with `playwright install`.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_app(
    pg_url: str,
    worker_tag: str,
    engines: dict[str, Engine],
    redis_client: redis.Redis,
) -> Iterator[LiveApp]:
    """The API under uvicorn in a thread of this process, on a port of its own."""
    settings = _settings(pg_url, worker_tag, log_level="WARNING")
    engine = _engine_for(pg_url, engines)
    cache = RedisReportCache(
        redis_client,
        prefix=settings.cache_key_prefix,
        ttl_seconds=settings.report_cache_ttl_seconds,
    )
    app = create_app(settings, engine=engine, report_cache=cache)

    # The socket is bound before the server starts, so no other process can take
    # the port between choosing it and listening on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start for the browser tests", pytrace=False)
        time.sleep(0.05)

    yield LiveApp(f"http://127.0.0.1:{port}", app, settings, engine, cache)

    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def web_db(live_app: LiveApp, pg_engine: Engine) -> Iterator[Session]:
    """Arrange and check rows in the database the live server reads; emptied after."""
    with sessionmaker(bind=pg_engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Any, live_app: LiveApp, watch: Watch) -> Iterator[Any]:
    """A fresh context and page; fails the test if the page threw or CSP refused."""
    context = browser.new_context(
        base_url=live_app.url,
        accept_downloads=True,
        locale="en-US",
        timezone_id="Europe/Berlin",
        viewport={"width": 1200, "height": 860},
    )
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: watch.problems.append(f"error: {error}"))
    page.on(
        "console",
        lambda message: (
            watch.problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not watch.problems, watch.problems


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest):
    """Save a screenshot as artifacts/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(step: str, target: Any = None) -> Path:
        """The whole page (below the fold too), or just `target`, an element."""
        path = SCREENSHOTS / f"{request.node.name}-{step}.png"
        if target is None:
            page.screenshot(path=str(path), full_page=True)
        else:
            target.screenshot(path=str(path))
        return path

    return take


@pytest.fixture
def worker(live_app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stands in for the Celery worker while the page runs jobs.

    A task the API queues runs, in a thread of this process, the same
    `jobs.run_job` the worker's task runs, on the live app's database and Redis,
    with purge batches of 2 and a pause of 1.5 s between them so that the page's
    progress can be seen moving. Notices go to the log channel. The real worker,
    beat and broker are what the chaos scenarios run; here the page is the subject.
    """
    from interview_retention.deletion import jobs
    from interview_retention.deletion.channels import LogChannel
    from interview_retention.worker.tasks import TASKS

    settings = live_app.settings.model_copy(
        update={"purge_batch_size": 2, "purge_pause_ms": 1500}
    )
    factory = sessionmaker(bind=live_app.engine, expire_on_commit=False)
    threads: list[threading.Thread] = []

    for job, task in TASKS.items():

        def queue(*args: Any, _job: str = job, **options: Any) -> None:
            kwargs = options["kwargs"]
            body = jobs.body_of(_job, cache=live_app.cache, channel=LogChannel())
            thread = threading.Thread(
                target=jobs.run_job,
                args=(_job, body),
                kwargs={
                    "factory": factory,
                    "settings": settings,
                    "run_id": options["task_id"],
                    "trigger": kwargs["trigger"],
                    "params": kwargs["params"],
                },
                daemon=True,
            )
            thread.start()
            threads.append(thread)

        monkeypatch.setattr(task, "apply_async", queue)
    yield
    for thread in threads:
        thread.join(timeout=30)
