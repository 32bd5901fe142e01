"""The key-value seam the response cache and the session store are written against.

Values are JSON text. Every entry lives in a *family* (``"resp"``, ``"session"``) and a *scope*
inside it (a project id, or a shared scope), so a whole scope or a whole family can be
invalidated at once. :class:`~claude_code_api.cache.memory.MemoryBackend` and
:class:`~claude_code_api.cache.redis.RedisBackend` pass the same contract tests.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CacheBackend(Protocol):
    """Async key-value store with TTLs and scope-wide invalidation.

    A backend whose store is unreachable degrades: reads miss and writes are dropped (with a
    rate-limited warning); only :meth:`ping` reports the failure, for readiness probes.
    """

    #: ``"memory"`` or ``"redis"``, for logs and ``/readyz``.
    name: str

    async def get(self, family: str, scope: str, key: str) -> str | None:
        """The live value, or None (missing, expired, invalidated, or store unreachable)."""
        ...

    async def set(self, family: str, scope: str, key: str, value: str, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (``ttl <= 0`` stores nothing)."""
        ...

    async def delete(self, family: str, scope: str, key: str) -> bool:
        """Drop one entry; True if it existed."""
        ...

    async def invalidate(self, family: str, scope: str | None = None) -> None:
        """Drop every entry of ``scope`` in ``family`` (``scope=None``: the whole family)."""
        ...

    async def ping(self) -> bool:
        """True when the store answers; raises the store's error otherwise."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...
