"""The API's latency while nothing runs, then while the purge runs.

A real uvicorn process serves the app against the bench database. Client threads
each own some sessions that are not due and loop over them: `GET` the session
(with its questions, answers and evaluation), `PATCH` it to DELETED (the soft
delete) and restore it, so every session stays alive and undue. Each request's
latency is recorded with the instant it was sent, and counted in the window it
was sent in.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.dataset import token_for
from bench.pg import libpq

BASE = "/api/interview/sessions"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """uvicorn with the app's own factory, against `url`; stopped on exit."""

    def __init__(self, url: str, redis_url: str, prefix: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "BROKER_KEY_PREFIX": prefix + "broker:",
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
        }
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "interview_retention.api.app:app_factory",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("uvicorn exited; see its log")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not answer /healthz in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass
class Sample:
    kind: str
    started: float
    ms: float
    status: int


@dataclass
class Load:
    """Client threads looping over their own sessions until stopped, each
    pausing `think` seconds between two requests, as a user reads a page before
    the next click. A request's latency runs from when it is sent."""

    base: str
    owned: list[list[tuple[str, str]]]
    think: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for sessions in self.owned:
            thread = threading.Thread(target=self._loop, args=(sessions,))
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _loop(self, sessions: list[tuple[str, str]]) -> None:
        out: list[Sample] = []
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                for session_id, user_id in sessions:
                    headers = {"Authorization": f"Bearer {token_for(user_id)}"}
                    path = f"{BASE}/{session_id}"
                    for method, url, body in (
                        ("GET", path, None),
                        ("PATCH", path, {"status": "DELETED"}),
                        ("POST", path + "/restore", None),
                    ):
                        if self.stop.wait(self.think):
                            break
                        out.append(self._timed(client, method, url, headers, body))
        self.samples.extend(out)

    @staticmethod
    def _timed(
        client: httpx.Client, method: str, path: str, headers: Any, body: Any
    ) -> Sample:
        started = time.monotonic()
        response = client.request(method, path, headers=headers, json=body)
        return Sample(
            method, started, (time.monotonic() - started) * 1000, response.status_code
        )


def live_sessions(url: str, count: int) -> list[tuple[str, str]]:
    """Evaluated sessions with no deadline and no hold, one per user, to load."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (user_id) id, user_id FROM interview_sessions"
            " WHERE status = 'EVALUATED' AND permanent_delete_at IS NULL"
            " AND NOT legal_hold ORDER BY user_id, created_at LIMIT %s",
            (count,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile, by nearest rank (q in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(q * len(ordered) + 0.5)) - 1
    return ordered[min(rank, len(ordered) - 1)]


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """p50 and p99 per method."""
    out: dict[str, Any] = {}
    for kind in ("GET", "PATCH", "POST"):
        inside = [s for s in samples if s.kind == kind]
        ms = [s.ms for s in inside]
        out[kind] = {
            "n": len(ms),
            "errors": sum(1 for s in inside if s.status != 200),
            "p50": percentile(ms, 0.50),
            "p99": percentile(ms, 0.99),
        }
    return out
