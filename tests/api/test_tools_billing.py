"""Budgets, usage rows, the response cache, routing and tier caps for tool-call turns (the
simulated CLI, in process): a tool-call turn is reserved, billed and recorded like any call."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import admin_headers, bearer, create_key, usage_when

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ASK = 'Weather in Oslo? [[call:get_weather {"city": "Oslo"}]]'


def body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "haiku", "messages": messages, "tools": TOOLS, **extra}


async def test_each_turn_is_billed_and_recorded(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "tool-usage")
    messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
    first = await client.post("/v1/chat/completions", json=body(messages), headers=bearer(key))
    assert first.json()["choices"][0]["finish_reason"] == "tool_calls"
    message = first.json()["choices"][0]["message"]
    result = {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "snow"}
    final = await client.post(
        "/v1/chat/completions", json=body([*messages, message, result]), headers=bearer(key)
    )
    assert final.json()["choices"][0]["finish_reason"] == "stop"
    spent = [r.json()["usage"]["total_tokens"] for r in (first, final)]
    assert all(t > 0 for t in spent)
    usage = await usage_when(client, key, lambda u: u["requests"] >= 2)
    assert usage["requests"] == 2 and usage["total_tokens"] == sum(spent)


async def test_tools_are_part_of_the_cache_key_and_calls_are_never_cached(
    client: httpx.AsyncClient,
) -> None:
    key = await create_key(client, "tool-cache")
    ask = [{"role": "user", "content": ASK}]
    calls = []
    for _ in range(2):
        answer = await client.post("/v1/chat/completions", json=body(ask), headers=bearer(key))
        assert answer.headers["x-ccapi-cache"] == "miss"
        calls.append(answer.json()["choices"][0]["message"]["tool_calls"][0]["id"])
    assert calls[0] != calls[1]  # two runs, each waiting on its own call
    plain = {"model": "haiku", "messages": ask}
    seen = []
    for request in (plain, body(ask, tool_choice="none"), body(ask, tool_choice="none")):
        answer = await client.post("/v1/chat/completions", json=request, headers=bearer(key))
        seen.append(answer.headers["x-ccapi-cache"])
    assert seen == ["miss", "miss", "hit"]


async def test_tier_caps_routing_and_budgets_apply(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/admin/keys",
        json={"project_id": "tool-tier", "max_tier": "haiku"},
        headers=admin_headers(),
    )
    key = created.json()["key"]
    ask = [{"role": "user", "content": ASK}]
    refused = await client.post(
        "/v1/chat/completions", json=body(ask, model="sonnet"), headers=bearer(key)
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    routed = await client.post(
        "/v1/chat/completions", json=body(ask, model="auto"), headers=bearer(key)
    )
    assert routed.status_code == 200 and routed.headers["x-ccapi-routed"] == "haiku"
    assert routed.json()["choices"][0]["finish_reason"] == "tool_calls"
    limited = await client.put(
        "/admin/projects/tool-tier/budget", json={"monthly_limit": 10}, headers=admin_headers()
    )
    assert limited.status_code == 200, limited.text
    over = await client.post("/v1/chat/completions", json=body(ask), headers=bearer(key))
    assert over.status_code == 429 and over.json()["error"]["code"] == "insufficient_quota"
