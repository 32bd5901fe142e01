"""Per-key request rate limits on the maintained `limits` library.

With Redis configured the counters live in Redis, so every API replica shares one limit per key;
otherwise they live in process memory. The sliding-window-counter strategy keeps two counters
per key (O(1) memory and time, one small Lua script in Redis) and weights the previous minute
by how much of it still overlaps the window, so there is no burst at window edges. A moving
window would be exact but stores one timestamp per request, i.e. O(limit) per key.

Redis down: the limiter falls back to in-process counters (each replica then enforces the
limit on its own, so a key may get up to ``replicas x limit`` per minute) and logs a throttled
warning; it goes back to Redis as soon as Redis answers. A request is never refused (or
failed with a 500) because the limit store is away: rate limits protect capacity, budgets
(which fail closed) protect money.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from claude_code_api.cache.guard import CircuitBreaker, ThrottledLog
from claude_code_api.cache.keys import encode_component
from claude_code_api.errors import RateLimitedError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """What the ``X-RateLimit-*`` headers report after a request was admitted."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window frees a slot

    def headers(self) -> dict[str, str]:
        """Response headers in the de-facto standard (as OpenAI sends them)."""
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": f"{max(0.0, self.reset_at - time.time()):.0f}s",
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


class RateLimiter:
    """Requests-per-minute limits keyed by API key id."""

    def __init__(self, storage: Storage, *, pool: aioredis.ConnectionPool | None = None) -> None:
        self._storage = storage
        self._pool = pool  # the Redis connections behind ``storage``, closed by close()
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}
        # Used while the shared storage is unreachable (see the module docstring).
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._breaker = CircuitBreaker()
        self._log = ThrottledLog(log)

    @classmethod
    def create(cls, redis_url: str | None, prefix: str = "ccapi") -> RateLimiter:
        """Redis-backed when ``redis_url`` is set, in-memory otherwise."""
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # Our own pool, not one `limits` makes and never closes: close() releases it.
            pool = aioredis.ConnectionPool.from_url(uri.removeprefix("async+"))
            options: dict[str, Any] = {"connection_pool": pool}  # typed as scalars in `limits`
            storage = RedisStorage(
                uri, implementation="redispy", key_prefix=f"{prefix}:rl", **options
            )
            return cls(storage, pool=pool)
        return cls(MemoryStorage())

    async def close(self) -> None:
        """Close the Redis connections (if any). Idempotent."""
        if self._pool is not None:
            await self._pool.aclose()

    def _item(self, per_minute: int) -> RateLimitItemPerMinute:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def hit(self, key_id: str, per_minute: int) -> RateLimitStatus:
        """Count one request; raise :class:`RateLimitedError` (429) when over the limit."""
        item = self._item(per_minute)
        ident = encode_component(key_id)  # `limits` joins identifiers with "/"
        limiter = self._local if self._breaker.is_open else self._limiter
        try:
            allowed = await limiter.hit(item, ident)
            stats = await limiter.get_window_stats(item, ident)
        except Exception as exc:  # any storage failure: count in process
            if limiter is self._local:
                raise
            self._breaker.record_failure()
            self._log.warning(
                "rate limit storage unavailable (%s); counting in this process for %.1fs",
                type(exc).__name__,
                self._breaker.cooldown,
            )
            limiter = self._local
            allowed = await limiter.hit(item, ident)
            stats = await limiter.get_window_stats(item, ident)
        else:
            if limiter is self._limiter:
                self._breaker.record_success()
        if not allowed:
            retry_after = max(1.0, stats.reset_time - time.time())
            raise RateLimitedError(
                f"Rate limit of {per_minute} requests per minute exceeded for this API key.",
                retry_after=retry_after,
                limit=per_minute,
            )
        return RateLimitStatus(per_minute, stats.remaining, stats.reset_time)

    async def reset(self) -> None:
        """Forget every counter (admin/testing)."""
        await self._storage.reset()

    async def check(self) -> bool:
        """Whether the storage answers (for /readyz)."""
        try:
            return bool(await self._storage.check())
        except Exception:  # the probe must never raise
            log.warning("rate limit storage check failed", exc_info=True)
            return False
