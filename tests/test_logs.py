"""Log lines leave the process whole: one write per line."""

from __future__ import annotations

import json
import sys

import pytest
import structlog

from interview_retention.logs import configure_logging


class Writes:
    """A stream that keeps each write apart, as processes sharing a file see them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def saved_config():
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_each_line_is_one_write_with_its_newline(monkeypatch, saved_config):
    # Set in the test itself: pytest puts its own capture back on sys.stderr
    # between a fixture's setup and the test.
    stream = Writes()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", json=True)

    structlog.get_logger("test").info("purge.batch", purged=3)
    structlog.get_logger("test").info("purge.batch", purged=4)

    assert len(stream.calls) == 2
    for call, purged in zip(stream.calls, (3, 4), strict=True):
        assert call.endswith("\n")
        assert call.count("\n") == 1
        assert json.loads(call)["purged"] == purged
