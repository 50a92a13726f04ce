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


# Puts the marker under every key it is given and answers, per key, 1 where a
# report was there, else 0.
_EVICT = """
local removed = {}
for i, key in ipairs(KEYS) do
  local old = redis.call('SET', key, ARGV[1], 'EX', ARGV[2], 'GET')
  removed[i] = (old and old ~= ARGV[1]) and 1 or 0
end
return removed
"""


class RedisReportCache:
    def __init__(self, client: redis.Redis, *, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._evict_script = client.register_script(_EVICT)

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
        # One script call for the whole batch: a pipeline of one SET per key costs
        # several times more, almost all of it in building and parsing commands.
        removed = self._evict_script(
            keys=[self.key(sid) for sid in ids], args=[_GONE, self._ttl]
        )
        return {sid: int(n) for sid, n in zip(ids, removed, strict=True)}


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
