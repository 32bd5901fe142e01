"""Redis :class:`CacheBackend` (redis-py asyncio, pooled), degrading to misses when Redis is away.

Invalidation uses generation counters rather than key sets: a value's key embeds the current
generation of its family and of its scope, so bumping a counter (one ``INCR``) orphans every
entry of a project, or of everything, in O(1); orphans expire by their own TTL. Each lookup
resolves both generations and reads the value in one Lua script, i.e. one round trip.

TTL invariant (so counters can carry TTLs too): every write stretches both counters' TTLs to at
least the value's TTL, and a bump keeps the TTL. A counter can therefore only expire (and fall
back to ``0``) once every value written under any of its generations is gone, so an old value
can never come back to life. The scripts build value keys from ``ARGV``; that is fine on one
Redis server or a replicated one, not on Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from claude_code_api.cache.guard import (
    CACHE_SOCKET_TIMEOUT,
    CircuitBreaker,
    ThrottledLog,
    make_client,
)
from claude_code_api.cache.keys import RedisKeys, encode_component

log = logging.getLogger(__name__)
T = TypeVar("T")

_VALUE_KEY = "ARGV[1] .. ga .. ':' .. ARGV[2] .. ':' .. gs .. ':' .. ARGV[3]"
_GENERATIONS = """
local ga = redis.call('GET', KEYS[1]) or '0'
local gs = redis.call('GET', KEYS[2]) or '0'
"""
_GET = _GENERATIONS + f"return redis.call('GET', {_VALUE_KEY})"
_DELETE = _GENERATIONS + f"return redis.call('DEL', {_VALUE_KEY})"
_SET = (
    """
local ttl = tonumber(ARGV[5])
for i = 1, 2 do
  local left = redis.call('PTTL', KEYS[i])
  if left == -2 then redis.call('SET', KEYS[i], '0', 'PX', ttl)
  elseif left < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
"""
    + _GENERATIONS
    + f"redis.call('SET', {_VALUE_KEY}, ARGV[4], 'PX', ttl)\nreturn 1"
)
# A missing counter means no live value used it, so any TTL keeps the invariant.
_BUMP = """
local left = redis.call('PTTL', KEYS[1])
redis.call('INCR', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""


class RedisBackend:
    """:class:`~claude_code_api.cache.backend.CacheBackend` on Redis.

    Every data operation goes through a circuit breaker: on a Redis error it logs a throttled
    warning, reads return None and writes do nothing, and Redis is skipped for one cooldown.
    """

    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        breaker: CircuitBreaker | None = None,
        owns_client: bool = True,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.breaker = breaker or CircuitBreaker()
        self._log = ThrottledLog(log)
        self._owns_client = owns_client
        self._get = client.register_script(_GET)
        self._set = client.register_script(_SET)
        self._delete = client.register_script(_DELETE)
        self._bump = client.register_script(_BUMP)

    @classmethod
    def from_url(
        cls, url: str, prefix: str, *, socket_timeout: float = CACHE_SOCKET_TIMEOUT
    ) -> RedisBackend:
        """Backend on its own pooled client with short socket timeouts."""
        return cls(make_client(url, socket_timeout=socket_timeout), prefix)

    async def _guarded(self, op: str, call: Callable[[], Awaitable[T]]) -> T | None:
        if self.breaker.is_open:
            return None
        try:
            result = await call()
        except (RedisError, OSError) as exc:
            self.breaker.record_failure()
            self._log.warning(
                "Redis cache %s failed (%s: %s); serving without the cache for %.1fs",
                op,
                type(exc).__name__,
                exc,
                self.breaker.cooldown,
            )
            return None
        self.breaker.record_success()
        return result

    def _scope_keys(self, family: str, scope: str) -> list[str]:
        return [self.keys.family_generation(family), self.keys.scope_generation(family, scope)]

    async def get(self, family: str, scope: str, key: str) -> str | None:
        """The live value, or None (also when Redis is unreachable)."""
        args = [self.keys.value_prefix(family), encode_component(scope), encode_component(key)]
        value: Any = await self._guarded(
            "get", lambda: self._get(keys=self._scope_keys(family, scope), args=args)
        )
        return value if isinstance(value, str) else None

    async def set(self, family: str, scope: str, key: str, value: str, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (dropped when Redis is unreachable)."""
        ttl_ms = int(ttl * 1000)
        if ttl_ms <= 0:
            return
        args: list[str | int] = [
            self.keys.value_prefix(family),
            encode_component(scope),
            encode_component(key),
            value,
            ttl_ms,
        ]
        await self._guarded(
            "set", lambda: self._set(keys=self._scope_keys(family, scope), args=args)
        )

    async def delete(self, family: str, scope: str, key: str) -> bool:
        """Drop one entry; True if it existed."""
        args = [self.keys.value_prefix(family), encode_component(scope), encode_component(key)]
        removed: Any = await self._guarded(
            "delete", lambda: self._delete(keys=self._scope_keys(family, scope), args=args)
        )
        return bool(removed)

    async def invalidate(self, family: str, scope: str | None = None) -> None:
        """Bump the scope's (or the family's) generation: O(1) whatever the entry count."""
        counter = (
            self.keys.family_generation(family)
            if scope is None
            else self.keys.scope_generation(family, scope)
        )
        # Fallback TTL of a counter created by a bump: any positive value keeps the invariant.
        await self._guarded("invalidate", lambda: self._bump(keys=[counter], args=[86_400_000]))

    async def ping(self) -> bool:
        """PING Redis, bypassing the breaker; raises the connection error when down."""
        result: Any = await self.client.ping()
        return bool(result)

    async def close(self) -> None:
        """Close the pool (if this backend created the client)."""
        if self._owns_client:
            await self.client.aclose()
