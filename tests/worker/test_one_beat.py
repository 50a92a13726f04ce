"""Two real `celery beat` processes on one Redis: only one sends the schedule.

Each test starts a private redis-server on a free port (the shared one is never
touched), then two beats built by `create_celery` with a five-second lock
timeout and a one-second schedule. The broker's queue shows how many messages
were sent; each beat's log shows which of them sent it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.beat

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
LOCK_TIMEOUT = 5
BROKER_PREFIX = "irtest:beat-broker:"
BEAT_PREFIX = "irtest:beat:"
SENT = "Scheduler: Sending due task tick"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(done: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll until `done`; the seconds it took. Fails the test past `seconds`."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > seconds:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture
def private_redis(tmp_path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is needed to test two beats on a Redis of their own")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 10, "the private redis-server")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Beat:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sends(self) -> int:
        return self.text().count(SENT)

    def holds_the_lock(self) -> bool:
        return "beat: Acquired lock" in self.text()

    def waits_for_the_lock(self) -> bool:
        return "beat: Acquiring lock" in self.text()


@pytest.fixture
def start_beat(private_redis, tmp_path) -> Iterator[Callable[[str], Beat]]:
    started: list[Beat] = []
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": private_redis,
        "BROKER_KEY_PREFIX": BROKER_PREFIX,
        "BEAT_KEY_PREFIX": BEAT_PREFIX,
        "BEAT_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "LOG_JSON": "false",
    }

    def start(name: str) -> Beat:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "tests.worker.beat_app:app",
                    "beat",
                    "--loglevel",
                    "DEBUG",
                    "--pidfile",
                    str(tmp_path / f"{name}.pid"),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        beat = Beat(name, process, log)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        if beat.process.poll() is None:
            beat.process.kill()
        beat.process.wait(timeout=10)


def queued(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.llen(f"{BROKER_PREFIX}celery"))
    finally:
        client.close()


def assert_one_sender(url: str, logged: Callable[[], int]) -> None:
    """The queue holds one message per send logged: none doubled.

    A beat logs a send just before it publishes it, so a send may be logged
    and not yet queued (or never, if SIGKILL fell in between): one short is
    allowed, one more never is. Two beats sending would double the count.
    """
    in_queue = queued(url)
    assert logged() - 1 <= in_queue <= logged()


def test_one_beat_sends_and_another_takes_over_when_it_is_gone(
    start_beat, private_redis
):
    first = start_beat("first")
    wait_until(first.holds_the_lock, 20, "the first beat to take the lock")
    second = start_beat("second")
    wait_until(second.waits_for_the_lock, 20, "the second beat to wait for the lock")

    # Both run side by side: only the leader sends, once a second.
    wait_until(lambda: first.sends() >= 4, 15, "the first beat to send")
    time.sleep(2)
    assert second.sends() == 0
    assert not second.holds_the_lock()
    assert_one_sender(private_redis, first.sends)

    # The leader dies without a word; its lock runs out and the other takes over.
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    sent_by_first = first.sends()
    killed = wait_until(second.holds_the_lock, LOCK_TIMEOUT + 5, "a takeover")
    wait_until(lambda: second.sends() >= 2, 10, "the second beat to send")
    assert killed <= LOCK_TIMEOUT + 2

    # A leader stopped cleanly releases its lock: the next one needs no timeout.
    third = start_beat("third")
    wait_until(third.waits_for_the_lock, 20, "the third beat to wait for the lock")
    second.process.send_signal(signal.SIGTERM)
    second.process.wait(timeout=15)
    stopped = wait_until(third.holds_the_lock, LOCK_TIMEOUT + 5, "a handover")
    wait_until(lambda: third.sends() >= 1, 10, "the third beat to send")
    assert stopped < LOCK_TIMEOUT

    # Every message in the queue was sent by the one beat that led at the time.
    third.process.send_signal(signal.SIGTERM)
    third.process.wait(timeout=15)
    assert_one_sender(
        private_redis, lambda: sent_by_first + second.sends() + third.sends()
    )
    print(
        f"\nfirst beat sent {sent_by_first} while the second waited; the second"
        f" took over {killed:.1f}s after a SIGKILL (lock timeout {LOCK_TIMEOUT}s)"
        f" and sent {second.sends()}; the third took over {stopped:.1f}s after a"
        f" SIGTERM; {queued(private_redis)} messages in all"
    )
