"""One contract for both cache backends (each test runs on memory and on the real Redis)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from claude_code_api.cache import Cache, CacheBackend, MemoryWorkQueue, ResponseCache, SessionStore
from claude_code_api.domain import CompletionResult, Usage


def answer(text: str = "4", cost: float = 0.0123) -> CompletionResult:
    return CompletionResult(
        text=text,
        model="claude-sonnet-4-5",
        usage=Usage(input_tokens=12, output_tokens=3, cost_usd=cost),
        session_id="s-1",
        duration_ms=812,
    )


def key(cache: ResponseCache, project: str, prompt: str = "What is 2+2?", **kw: object) -> str:
    return cache.key_for(project, "sonnet", "Be brief.", [["user", prompt]], 100, "chat", 0.7, **kw)


async def test_cache_and_retrieve(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    k = key(cache, "acme")
    assert await cache.get(k) is None
    await cache.put(k, answer())
    hit = await cache.get(k)
    assert hit is not None
    assert hit.cached is True
    assert hit.text == "4"
    assert hit.usage == Usage(input_tokens=12, output_tokens=3, cost_usd=0.0123)
    assert hit.session_id == "s-1"
    assert hit.duration_ms == 812


async def test_cache_expiration(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    short, long = key(cache, "acme", "short"), key(cache, "acme", "long")
    await cache.put(short, answer(), ttl=0.2)
    await cache.put(long, answer(), ttl=60)
    assert await cache.get(short) is not None
    await asyncio.sleep(0.35)
    assert await cache.get(short) is None
    assert await cache.get(long) is not None


async def test_zero_ttl_stores_nothing(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    k = key(cache, "acme")
    await cache.put(k, answer(), ttl=0)
    assert await cache.get(k) is None


async def test_tenant_isolation(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    await cache.put(key(cache, "project-a"), answer("A's private answer"))
    assert key(cache, "project-a") != key(cache, "project-b")
    assert await cache.get(key(cache, "project-b")) is None
    hit = await cache.get(key(cache, "project-a"))
    assert hit is not None and hit.text == "A's private answer"


async def test_shared_scope_is_opt_in(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    await cache.put(key(cache, "project-a", shared=True), answer("public"))
    shared_hit = await cache.get(key(cache, "project-b", shared=True))
    assert shared_hit is not None and shared_hit.text == "public"
    assert await cache.get(key(cache, "project-b")) is None


async def test_everything_that_changes_the_answer_changes_the_key(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    base = {
        "project_id": "p",
        "model": "sonnet",
        "system_prompt": "s",
        "messages": [["user", "hi"]],
        "max_tokens": 10,
        "mode": "chat",
        "temperature": 0.5,
    }
    variants = [
        {"model": "haiku"},
        {"system_prompt": None},
        {"messages": [["user", "hi"], ["assistant", "yo"], ["user", "hi"]]},
        {"max_tokens": None},
        {"mode": "agent"},
        {"temperature": 1.0},
    ]
    await cache.put(cache.key_for(**base), answer())  # type: ignore[arg-type]
    for change in variants:
        other = cache.key_for(**{**base, **change})  # type: ignore[arg-type]
        assert other != cache.key_for(**base), change  # type: ignore[arg-type]
        assert await cache.get(other) is None, change
    # dict key order does not matter: the digest is over canonical JSON
    reordered = dict(reversed(list(base.items())))
    assert cache.key_for(**reordered) == cache.key_for(**base)  # type: ignore[arg-type]


async def test_invalidate_one_entry(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    one, two = key(cache, "acme", "one"), key(cache, "acme", "two")
    await cache.put(one, answer())
    await cache.put(two, answer())
    assert await cache.invalidate(one) is True
    assert await cache.invalidate(one) is False
    assert await cache.get(one) is None
    assert await cache.get(two) is not None


async def test_invalidate_project(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    for prompt in ("x", "y"):
        await cache.put(key(cache, "acme", prompt), answer())
        await cache.put(key(cache, "other", prompt), answer())
    await cache.invalidate_project("acme")
    assert await cache.get(key(cache, "acme", "x")) is None
    assert await cache.get(key(cache, "acme", "y")) is None
    assert await cache.get(key(cache, "other", "x")) is not None
    # the project's cache works again after invalidation
    await cache.put(key(cache, "acme", "x"), answer("fresh"))
    fresh = await cache.get(key(cache, "acme", "x"))
    assert fresh is not None and fresh.text == "fresh"


async def test_invalidate_all(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    sessions = SessionStore(backend)
    await cache.put(key(cache, "acme"), answer())
    await cache.put(key(cache, "other", shared=True), answer())
    await sessions.store("ws-1", {"turns": 1})
    await cache.invalidate_all()
    assert await cache.get(key(cache, "acme")) is None
    assert await cache.get(key(cache, "other", shared=True)) is None
    assert await sessions.get("ws-1") == {"turns": 1}  # sessions are not cached responses
    await cache.put(key(cache, "acme"), answer())
    assert await cache.get(key(cache, "acme")) is not None


async def test_session_management(backend: CacheBackend) -> None:
    sessions = SessionStore(backend, ttl=24 * 3600)
    assert await sessions.get("ws-1") is None
    await sessions.store("ws-1", {"messages": [{"role": "user", "content": "hi"}]})
    await sessions.store("ws-2", {"messages": []})
    assert await sessions.get("ws-1") == {"messages": [{"role": "user", "content": "hi"}]}
    await sessions.store("ws-1", {"messages": [], "reset": True})
    assert await sessions.get("ws-1") == {"messages": [], "reset": True}
    assert await sessions.delete("ws-1") is True
    assert await sessions.get("ws-1") is None
    assert await sessions.get("ws-2") == {"messages": []}
    await sessions.store("short", {"a": 1}, ttl=0.2)
    await asyncio.sleep(0.35)
    assert await sessions.get("short") is None


async def test_unreadable_entry_is_a_miss(backend: CacheBackend) -> None:
    cache = ResponseCache(backend)
    k = key(cache, "acme")
    scope, digest = k.rsplit("|", 1)
    await backend.set("resp", scope, digest, '{"not": "a result"}', 60)
    assert await cache.get(k) is None
    assert await backend.get("resp", scope, digest) is None  # and it was dropped


async def test_seed_facade(backend: CacheBackend) -> None:
    cache = Cache(backend, MemoryWorkQueue(10))
    await cache.cache_response("What is 2+2?", answer(), ttl=3600)
    await cache.cache_response("plain", "just text", project_id="acme")
    hit = await cache.get_cached_response("What is 2+2?")
    assert hit is not None and hit.text == "4" and hit.cached
    assert await cache.get_cached_response("What is 2+2?", project_id="acme") is None
    plain = await cache.get_cached_response("plain", project_id="acme")
    assert plain is not None and plain.text == "just text"
    assert await cache.invalidate("plain", project_id="acme") is True
    assert await cache.get_cached_response("plain", project_id="acme") is None
    await cache.invalidate_project("default")
    assert await cache.get_cached_response("What is 2+2?") is None
    await cache.cache_response("again", answer())
    await cache.invalidate_all()
    assert await cache.get_cached_response("again") is None
    await cache.store_session("ws", {"n": 1})
    assert await cache.get_session("ws") == {"n": 1}
    assert await backend.ping() is True


async def test_redis_keys_use_the_prefix_and_all_have_ttls(
    redis_url: str, redis_prefix: str, raw_redis: aioredis.Redis
) -> None:
    from claude_code_api.cache import RedisBackend

    backend = RedisBackend.from_url(redis_url, redis_prefix)
    cache = ResponseCache(backend)
    await cache.put(key(cache, "acme"), answer())
    await cache.invalidate_project("acme")
    await cache.invalidate_all()
    await cache.put(key(cache, "acme"), answer())
    await SessionStore(backend).store("ws", {})
    await backend.close()
    keys = [k async for k in raw_redis.scan_iter(match=f"{redis_prefix}:*")]
    assert len(keys) >= 5  # 2 values, 2 generation counters, 1 session
    for k in keys:
        assert await raw_redis.ttl(k) > 0, k
