"""Structured logging: one JSON object per line, events with fields.

Nothing personal goes in: ids and counts only, never emails, tokens or answers.
"""

from __future__ import annotations

import logging
import sys

import structlog

# Paths whose last part is a credential: a signed export link works for whoever
# holds it, so it must not be readable in a log. (Kept beside the logging rather
# than imported from sessions.links, which this low-level module must not load.)
SECRET_PATH_PREFIXES = ("/api/interview/exports/",)


def redact_path(path: str) -> str:
    """The path as it may be logged: a signed link's token replaced."""
    for prefix in SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            return prefix + "[redacted]"
    return path


class RedactSecretPaths(logging.Filter):
    """Takes the token out of uvicorn's access log line of a signed link.

    uvicorn logs `(client, method, path and query, HTTP version, status)`; the
    path is rewritten, the rest left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecretPaths) for f in access.filters):
        access.addFilter(RedactSecretPaths())

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        # One write per line (the JSON and its newline together): the worker's pool
        # processes share stderr, and print() writes the newline apart, so two
        # processes logging at once could run their lines into one.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
