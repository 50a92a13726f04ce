"""A limit on failed authentications per client address, over a moving window.

Tokens are 256 random bits, so guessing one is hopeless; the limit is there to
turn away a client that keeps trying (a scanner, a misconfigured script) before
each attempt costs a database lookup. Once an address has failed
`AUTH_FAILURE_LIMIT` times within the window, every request from it that needs a
token is answered 429 without looking at the token, until the oldest failure
leaves the window. Successful requests are not counted.

Counts live in Redis when `REDIS_URL` is set, so that every API process shares
them; without Redis each process counts on its own. If Redis cannot be reached
the limit is not applied (the request is authenticated as usual) rather than
refusing every client: an outage of the counter must not lock out everyone.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

log = structlog.get_logger(__name__)

# Redis calls of the limiter sit on the request path; an unreachable Redis must
# cost a fraction of a second, not the client's whole timeout.
_REDIS_TIMEOUT_SECONDS = 0.5


class AuthFailureLimit:
    def __init__(self, limit: str, *, redis_url: str | None, key_prefix: str) -> None:
        self.item: RateLimitItem = parse(limit)
        storage: Storage
        if redis_url:
            storage = RedisStorage(
                redis_url,
                key_prefix=key_prefix,
                wrap_exceptions=True,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            )
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it is not blocked."""
        try:
            if self._limiter.test(self.item, address):
                return None
            stats = self._limiter.get_window_stats(self.item, address)
        except StorageError:
            log.warning("auth_limit.unavailable", op="test")
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        try:
            self._limiter.hit(self.item, address)
        except StorageError:
            log.warning("auth_limit.unavailable", op="hit")
