"""The report cache. Redis when REDIS_URL is set; without it nothing is cached."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol

import redis
import structlog

from interview_retention.config import get_settings

log = structlog.get_logger(__name__)


class ReportCache(Protocol):
    def get(self, session_id: str) -> dict[str, Any] | None: ...

    def put(self, session_id: str, report: dict[str, Any]) -> None: ...

    def evict(self, session_ids: Iterable[str]) -> dict[str, int]:
        """Drop the entries of these sessions in one round trip; keys removed per id."""
        ...


class NoCache:
    def get(self, session_id: str) -> dict[str, Any] | None:
        return None

    def put(self, session_id: str, report: dict[str, Any]) -> None:
        return None

    def evict(self, session_ids: Iterable[str]) -> dict[str, int]:
        return dict.fromkeys(session_ids, 0)


# What an eviction leaves under a deleted session's key, for as long as a report
# would live there: a reader that loaded the report just before the deletion
# cannot write its copy over it (`put` only writes to an empty key). Should the
# deletion roll back, the report is read from the database until the marker
# expires. (SET ... GET needs Redis 6.2 or later.)
_GONE = b"gone"


class RedisReportCache:
    def __init__(self, client: redis.Redis, *, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, session_id: str) -> str:
        return f"{self._prefix}report:{session_id}"

    def get(self, session_id: str) -> dict[str, Any] | None:
        # Reads and writes degrade to the database when Redis is away; evictions do
        # not (see `evict`).
        try:
            raw = self._client.get(self.key(session_id))
        except redis.RedisError:
            log.warning("report_cache.unavailable", op="get")
            return None
        return None if raw is None or raw == _GONE else json.loads(raw)

    def put(self, session_id: str, report: dict[str, Any]) -> None:
        try:
            self._client.set(
                self.key(session_id), json.dumps(report), ex=self._ttl, nx=True
            )
        except redis.RedisError:
            log.warning("report_cache.unavailable", op="put")

    def evict(self, session_ids: Iterable[str]) -> dict[str, int]:
        """Raises when Redis cannot be reached, so that the deletion that asked for
        the eviction rolls back and is retried rather than leaving a copy behind."""
        ids = list(session_ids)
        if not ids:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for sid in ids:
            pipe.set(self.key(sid), _GONE, ex=self._ttl, get=True)
        return {
            sid: int(old is not None and old != _GONE)
            for sid, old in zip(ids, pipe.execute(), strict=True)
        }


@lru_cache
def get_report_cache() -> ReportCache:
    settings = get_settings()
    if not settings.redis_url:
        return NoCache()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    return RedisReportCache(
        client,
        prefix=settings.cache_key_prefix,
        ttl_seconds=settings.report_cache_ttl_seconds,
    )
