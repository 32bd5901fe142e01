"""Byte-identical repeats answered from the response cache before the framework
(``api/repeat_hits.py``): the same answer, headers, limits and usage as through the route."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    admin_headers,
    bearer,
    chat_body,
    create_key,
    make_settings,
    running_app,
    usage_when,
)

VOLATILE_HEADERS = {"x-request-id", "x-ratelimit-remaining-requests", "x-ratelimit-remaining",
                    "x-ratelimit-reset-requests", "x-ratelimit-reset"}  # fmt: skip


async def repeat_hits(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(r"^ccapi_repeat_hits_total (\S+)$", text, re.M)
    assert match, text[:500]
    return float(match.group(1))


async def post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str
) -> httpx.Response:
    # The same bytes every time, as an SDK sends them.
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {**bearer(key), "content-type": "application/json"}
    return await client.post(path, content=raw, headers=headers)


def stable(response: httpx.Response) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and body without what differs per request (ids, times, remaining counts)."""
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
    body = response.json()
    body.pop("id", None)
    body.pop("created", None)
    return headers, body


async def test_repeat_is_answered_like_a_route_hit(client: httpx.AsyncClient) -> None:
    first_key, second_key = await create_key(client, "rep"), await create_key(client, "rep")
    body = chat_body("repeat me")
    miss = await post(client, "/v1/chat/completions", body, first_key)
    assert miss.status_code == 200 and miss.headers["x-ccapi-cache"] == "miss"
    spent = (await usage_when(client, first_key, lambda u: u["requests"] >= 1))["total_cost"]
    before = await repeat_hits(client)
    # Another key of the project: the same cache entry, reached through the route.
    route_hit = await post(client, "/v1/chat/completions", body, second_key)
    assert route_hit.headers["x-ccapi-cache"] == "hit"
    assert await repeat_hits(client) == before
    fast_hit = await post(client, "/v1/chat/completions", body, first_key)
    assert fast_hit.status_code == 200
    assert await repeat_hits(client) == before + 1
    assert stable(fast_hit) == stable(route_hit)
    assert fast_hit.json()["usage"] == route_hit.json()["usage"]
    assert fast_hit.headers["x-request-id"] != route_hit.headers["x-request-id"]
    assert fast_hit.json()["id"] == "chatcmpl-" + fast_hit.headers["x-request-id"][4:]
    # Every hit is a zero-cost usage row of its own request.
    usage = await usage_when(client, first_key, lambda u: u["requests"] >= 3)
    assert usage["requests"] == 3
    assert usage["total_cost"] == spent


async def test_each_request_counts_once_against_the_rate_limit(client: httpx.AsyncClient) -> None:
    key, other = await create_key(client, "rl", rate_limit=4), await create_key(client, "rl")
    body = chat_body("limited")
    await post(client, "/v1/chat/completions", body, other)  # remembered for `other` only
    remaining = []
    for _ in range(4):  # the body is known, the key is not: admitted once, then the route
        response = await post(client, "/v1/chat/completions", body, key)
        assert response.status_code == 200
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [3, 2, 1, 0]
    refused = await post(client, "/v1/chat/completions", body, key)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"  # OpenAI's shape
    assert "retry-after" in refused.headers


async def test_revoked_key_is_refused_on_a_repeat(client: httpx.AsyncClient) -> None:
    created = await client.post("/admin/keys", json={"project_id": "rv"}, headers=admin_headers())
    key, key_id = created.json()["key"], created.json()["key_id"]
    body = chat_body("revoke me")
    for _ in range(2):
        assert (await post(client, "/v1/chat/completions", body, key)).status_code == 200
    await client.delete(f"/admin/keys/{key_id}", headers=admin_headers())
    refused = await post(client, "/v1/chat/completions", body, key)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


async def test_messages_repeat_in_anthropic_shape(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "anth")
    body = {"model": "haiku", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    before = await repeat_hits(client)
    first = await post(client, "/v1/messages", body, key)
    second = await post(client, "/v1/messages", body, key)
    assert await repeat_hits(client) == before + 1
    assert second.headers["x-ccapi-cache"] == "hit"
    assert second.json()["type"] == "message"
    assert second.json()["content"] == first.json()["content"]
    assert second.json()["id"] == "msg_" + second.headers["x-request-id"][4:]


async def test_what_is_never_answered_before_the_route(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "never")
    before = await repeat_hits(client)
    cases = [
        chat_body("routed", model="auto"),  # the decision depends on the remaining budget
        chat_body("streamed", stream=True),
        chat_body("uncached", cache=False),
        chat_body("x" * 9000),  # longer than the memo keeps
    ]
    for body in cases:
        for _ in range(2):
            response = await post(client, "/v1/chat/completions", body, key)
            assert response.status_code == 200
    assert await repeat_hits(client) == before
    routed = await post(client, "/v1/chat/completions", cases[0], key)
    assert routed.headers["x-ccapi-cache"] == "hit" and "routing" in routed.json()


async def test_bad_repeats_still_get_the_surface_errors(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "bad")
    body = {"model": "haiku", "messages": []}
    for _ in range(2):
        response = await post(client, "/v1/chat/completions", body, key)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
    no_key = await client.post("/v1/chat/completions", json=chat_body("who"))
    assert no_key.status_code == 401


@pytest.mark.parametrize("entries", [0, 1])
async def test_memo_size_is_a_setting(tmp_path: Path, entries: int) -> None:
    async with running_app(make_settings(tmp_path, repeat_hits=entries)) as (_app, client):
        key = await create_key(client, "size")
        for text in ("a", "b", "a", "a"):  # with one entry, "b" pushes "a" out once
            assert (await post(client, "/v1/chat/completions", chat_body(text), key)).is_success
        assert await repeat_hits(client) == (1 if entries == 1 else 0)


async def test_an_expired_answer_runs_again(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, cache_ttl=1)) as (_app, client):
        key = await create_key(client, "ttl")
        body = chat_body("expire")
        assert (await post(client, "/v1/chat/completions", body, key)).headers[
            "x-ccapi-cache"
        ] == "miss"
        assert (await post(client, "/v1/chat/completions", body, key)).headers[
            "x-ccapi-cache"
        ] == "hit"
        await asyncio.sleep(1.2)
        again = await post(client, "/v1/chat/completions", body, key)
        assert again.status_code == 200 and again.headers["x-ccapi-cache"] == "miss"


@pytest.mark.redis
async def test_repeats_with_redis_cache_and_limits(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The same path on the scale-out backends: the cache and the counters live in Redis."""
    settings = make_settings(tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    async with running_app(settings) as (_app, client):
        key = await create_key(client, "red", rate_limit=3)
        body = chat_body("from redis")
        before = await repeat_hits(client)
        responses = [await post(client, "/v1/chat/completions", body, key) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers.get("x-ccapi-cache") for r in responses[:3]] == ["miss", "hit", "hit"]
        assert await repeat_hits(client) == before + 2
        assert responses[3].json()["error"]["type"] == "rate_limit_error"
