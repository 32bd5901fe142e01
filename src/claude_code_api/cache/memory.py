"""In-process :class:`CacheBackend`: an LRU per family with per-entry TTLs.

The embedded default (no ``CCAPI_REDIS_URL``). Bounded: each family keeps at most
``max_entries`` entries and evicts the least recently used, so sessions never push out
responses or the other way round. Single event loop, no locks needed: no method awaits while
holding state half-updated.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

_Key = tuple[str, str]  # (scope, key)


class MemoryBackend:
    """LRU + TTL dictionary implementing :class:`~claude_code_api.cache.backend.CacheBackend`."""

    name = "memory"

    def __init__(
        self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._clock = clock
        self._families: dict[str, OrderedDict[_Key, tuple[str, float]]] = {}
        # scope -> keys, so invalidating a project costs O(its entries), not O(all entries)
        self._scopes: dict[str, dict[str, set[str]]] = {}

    def _family(self, family: str) -> OrderedDict[_Key, tuple[str, float]]:
        return self._families.setdefault(family, OrderedDict())

    def _forget(self, family: str, entry: _Key) -> None:
        scope, key = entry
        keys = self._scopes.get(family, {}).get(scope)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._scopes[family][scope]

    async def get(self, family: str, scope: str, key: str) -> str | None:
        """The live value (and mark it recently used), or None."""
        entries = self._family(family)
        found = entries.get((scope, key))
        if found is None:
            return None
        value, expires_at = found
        if expires_at <= self._clock():
            del entries[(scope, key)]
            self._forget(family, (scope, key))
            return None
        entries.move_to_end((scope, key))
        return value

    async def set(self, family: str, scope: str, key: str, value: str, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used if full."""
        if ttl <= 0:
            return
        entries = self._family(family)
        entries[(scope, key)] = (value, self._clock() + ttl)
        entries.move_to_end((scope, key))
        self._scopes.setdefault(family, {}).setdefault(scope, set()).add(key)
        while len(entries) > self.max_entries:
            evicted, _ = entries.popitem(last=False)
            self._forget(family, evicted)

    async def delete(self, family: str, scope: str, key: str) -> bool:
        """Drop one entry; True if it existed (expired entries count as absent)."""
        found = self._family(family).pop((scope, key), None)
        if found is None:
            return False
        self._forget(family, (scope, key))
        return found[1] > self._clock()

    async def invalidate(self, family: str, scope: str | None = None) -> None:
        """Drop a scope's entries, or the whole family when ``scope`` is None."""
        if scope is None:
            self._families.pop(family, None)
            self._scopes.pop(family, None)
            return
        entries = self._family(family)
        for key in self._scopes.get(family, {}).pop(scope, set()):
            entries.pop((scope, key), None)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._families.values())

    async def ping(self) -> bool:
        """Always True: memory is always there."""
        return True

    async def close(self) -> None:
        """Drop everything."""
        self._families.clear()
        self._scopes.clear()
