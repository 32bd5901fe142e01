"""Redis going away degrades the cache to misses and it comes back by itself.

Uses a private redis-server (the ``spare_redis`` fixture) that the test stops and restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from redis.exceptions import RedisError

from claude_code_api.cache import RedisBackend, ResponseCache, SessionStore
from claude_code_api.cache.guard import CircuitBreaker, ThrottledLog
from claude_code_api.domain import CompletionResult

from .conftest import SpareRedis


def key(cache: ResponseCache, prompt: str) -> str:
    return cache.key_for("acme", "m", None, [["user", prompt]], None, "chat", None)


async def eventually_hit(cache: ResponseCache, k: str, text: str, within: float = 10.0) -> None:
    """Write then read until Redis answers again (the breaker lets a probe through ~1 s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await cache.put(k, CompletionResult(text=text, model="m"))
        hit = await cache.get(k)
        if hit is not None:
            assert hit.text == text
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the cache did not recover after Redis came back")


async def test_redis_stopped_and_restarted(
    spare_redis: SpareRedis, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend.from_url(spare_redis.url, "resilience")
    cache, sessions = ResponseCache(backend), SessionStore(backend)
    await cache.put(key(cache, "before"), CompletionResult(text="cached", model="m"))
    assert await cache.get(key(cache, "before")) is not None

    spare_redis.stop()
    caplog.set_level(logging.WARNING, logger="claude_code_api.cache.redis")
    for n in range(50):  # every call degrades: misses and no-ops, never an exception
        assert await cache.get(key(cache, "before")) is None
        await cache.put(key(cache, f"during-{n}"), CompletionResult(text="x", model="m"))
        await sessions.store("ws", {"n": n})
        assert await sessions.get("ws") is None
        assert await cache.invalidate(key(cache, "before")) is False
        await cache.invalidate_project("acme")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate-limited: one warning, not one per call
    assert "serving without the cache" in warnings[0].getMessage()
    with pytest.raises((RedisError, OSError)):  # readiness sees the real connection error
        await cache.ping()

    spare_redis.start()
    await eventually_hit(cache, key(cache, "after"), "back")
    await sessions.store("ws", {"n": "after"})
    assert await sessions.get("ws") == {"n": "after"}
    assert await cache.ping() is True
    await backend.close()


async def test_breaker_skips_redis_while_open(spare_redis: SpareRedis) -> None:
    now = [0.0]
    breaker = CircuitBreaker(cooldown=1.0, clock=lambda: now[0])
    backend = RedisBackend.from_url(spare_redis.url, "breaker")
    backend.breaker = breaker
    cache = ResponseCache(backend)
    await cache.put(key(cache, "a"), CompletionResult(text="a", model="m"))
    breaker.record_failure()  # as after a failed call
    assert breaker.is_open
    assert await cache.get(key(cache, "a")) is None  # skipped, although Redis is up
    now[0] = 1.5
    assert not breaker.is_open
    hit = await cache.get(key(cache, "a"))
    assert hit is not None and hit.text == "a"
    await backend.close()


def test_throttled_log_counts_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("t"), interval=10, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="t")
    assert throttled.warning("down %s", "x") is True
    assert throttled.warning("down %s", "x") is False
    assert throttled.warning("down %s", "x") is False
    now[0] = 11
    assert throttled.warning("down %s", "x") is True
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["down x", "down x (2 similar warnings suppressed)"]


async def test_executor_with_redis_down_runs_locally_or_says_busy(spare_redis: SpareRedis) -> None:
    from claude_code_api.cache import DistributedExecutor, RedisWorkQueue
    from claude_code_api.cache.guard import make_client
    from claude_code_api.config import Settings
    from claude_code_api.domain import TaskRequest
    from claude_code_api.errors import BusyError
    from claude_code_api.workers import WorkerPool

    queue = RedisWorkQueue(make_client(spare_redis.url, socket_timeout=1), "down")
    pool = WorkerPool(Settings(demo=True, max_workers=1))
    await pool.start()
    spare_redis.stop()
    executor = DistributedExecutor(queue, pool)
    local = await executor.run(TaskRequest(prompt="no redis needed", model="haiku"))
    assert "no redis needed" in local.text
    without_pool = DistributedExecutor(queue, None)
    with pytest.raises(BusyError, match="unavailable"):
        await without_pool.run(TaskRequest(prompt="nowhere to go", model="haiku"))
    await pool.close(grace=1)
    await executor.close()
