"""Response cache and sessions, on Redis or in memory behind one interface.

Build with the factories (never at import time)::

    backend = backend_from_settings(settings)        # RedisBackend if CCAPI_REDIS_URL else memory
    responses = ResponseCache(backend, settings)

Remote execution (the work queue, its worker and the distributed executor) lives in
:mod:`claude_code_api.remote`, a layer above this one. The seed's names for it (``Cache``,
``DistributedExecutor``, ``QueueWorker``, the queues) stay importable from here: they are
loaded on first use (PEP 562), so importing the cache never loads remote execution.

See ``docs/CACHE_AND_QUEUE.md`` for the key layout, invalidation and the queue protocol.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from claude_code_api.cache.backend import CacheBackend
from claude_code_api.cache.memory import MemoryBackend
from claude_code_api.cache.redis import RedisBackend
from claude_code_api.cache.responses import ResponseCache
from claude_code_api.cache.sessions import SessionStore
from claude_code_api.config import Settings

if TYPE_CHECKING:  # the seed-compatible names below, for type checkers
    from claude_code_api.remote import (
        Cache,
        Delivery,
        DistributedExecutor,
        LocalPool,
        MemoryWorkQueue,
        QueueWorker,
        RedisWorkQueue,
        WorkQueue,
        queue_from_settings,
    )

__all__ = [
    "Cache",
    "CacheBackend",
    "Delivery",
    "DistributedExecutor",
    "LocalPool",
    "MemoryBackend",
    "MemoryWorkQueue",
    "QueueWorker",
    "RedisBackend",
    "RedisWorkQueue",
    "ResponseCache",
    "SessionStore",
    "WorkQueue",
    "backend_from_settings",
    "queue_from_settings",
]

_REMOTE = frozenset(
    {
        "Cache",
        "Delivery",
        "DistributedExecutor",
        "LocalPool",
        "MemoryWorkQueue",
        "QueueWorker",
        "RedisWorkQueue",
        "WorkQueue",
        "queue_from_settings",
    }
)


def __getattr__(name: str) -> Any:
    """The seed's remote-execution names, re-exported lazily from :mod:`claude_code_api.remote`."""
    if name in _REMOTE:
        return getattr(importlib.import_module("claude_code_api.remote"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_from_settings(settings: Settings) -> CacheBackend:
    """:class:`RedisBackend` when ``settings.redis_url`` is set, else a bounded memory LRU."""
    if settings.redis_url:
        return RedisBackend.from_url(settings.redis_url, settings.redis_prefix)
    return MemoryBackend(settings.cache_max_entries)
