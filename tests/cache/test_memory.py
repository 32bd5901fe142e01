"""What only the in-memory backend promises: a bound (LRU) per family."""

from __future__ import annotations

import pytest

from claude_code_api.cache import MemoryBackend, ResponseCache, SessionStore, backend_from_settings
from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult


def result(text: str) -> CompletionResult:
    return CompletionResult(text=text, model="m")


def k(cache: ResponseCache, n: int) -> str:
    return cache.key_for("p", "m", None, [["user", str(n)]], None, "chat", None)


async def test_lru_bound_evicts_least_recently_used() -> None:
    backend = MemoryBackend(max_entries=3)
    cache = ResponseCache(backend)
    for n in range(3):
        await cache.put(k(cache, n), result(str(n)))
    assert await cache.get(k(cache, 0)) is not None  # 0 is now the most recently used
    await cache.put(k(cache, 3), result("3"))
    assert len(backend) == 3
    assert await cache.get(k(cache, 1)) is None  # evicted: least recently used
    for n in (0, 2, 3):
        assert await cache.get(k(cache, n)) is not None
    for n in range(100):
        await cache.put(k(cache, 100 + n), result("x"))
    assert len(backend) == 3


async def test_sessions_and_responses_are_bounded_separately() -> None:
    backend = MemoryBackend(max_entries=2)
    cache, sessions = ResponseCache(backend), SessionStore(backend)
    await sessions.store("ws", {"keep": True})
    for n in range(10):
        await cache.put(k(cache, n), result("x"))
    assert await sessions.get("ws") == {"keep": True}


async def test_project_invalidation_after_eviction() -> None:
    backend = MemoryBackend(max_entries=2)
    cache = ResponseCache(backend)
    for n in range(4):
        await cache.put(k(cache, n), result("x"))
    await cache.invalidate_project("p")
    assert len(backend) == 0
    await backend.close()


def test_factory_picks_memory_without_redis_url() -> None:
    backend = backend_from_settings(Settings(redis_url=None, cache_max_entries=7))
    assert isinstance(backend, MemoryBackend)
    assert backend.max_entries == 7
    with pytest.raises(ValueError):
        MemoryBackend(0)


def test_malformed_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        ResponseCache._split("no-separator")
