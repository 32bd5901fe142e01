"""``POST /v1/chat/completions`` through the whole stack on the simulated CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    PNG_1X1,
    admin_headers,
    bearer,
    chat_body,
    create_key,
    make_settings,
    running_app,
    usage_when,
)


async def test_chat_completion(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "haiku",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Explain async/await"},
            ],
            "max_tokens": 100,
            "temperature": 0.7,
        },
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert "haiku" in body["model"]
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost_usd"] > 0
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-ccapi-cache"] == "miss"
    assert "haiku" in response.headers["x-ccapi-model"]


async def test_identical_request_is_a_cache_hit_with_zero_cost(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    first = await client.post(
        "/v1/chat/completions", json=chat_body("cache me"), headers=bearer(key)
    )
    second = await client.post(
        "/v1/chat/completions", json=chat_body("cache me"), headers=bearer(key)
    )
    assert first.headers["x-ccapi-cache"] == "miss"
    assert second.headers["x-ccapi-cache"] == "hit"
    assert (
        second.json()["choices"][0]["message"]["content"]
        == (first.json()["choices"][0]["message"]["content"])
    )
    assert second.json()["usage"]["cost_usd"] == 0
    opted_out = await client.post(
        "/v1/chat/completions", json=chat_body("cache me", cache=False), headers=bearer(key)
    )
    assert "x-ccapi-cache" not in opted_out.headers


async def test_cache_is_per_project(client: httpx.AsyncClient) -> None:
    key_a = await create_key(client, "tenant-a")
    key_b = await create_key(client, "tenant-b")
    await client.post("/v1/chat/completions", json=chat_body("shared q"), headers=bearer(key_a))
    other = await client.post(
        "/v1/chat/completions", json=chat_body("shared q"), headers=bearer(key_b)
    )
    assert other.headers["x-ccapi-cache"] == "miss"


async def test_auto_model_is_routed_and_reported(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(key),
    )
    assert response.status_code == 200
    assert response.headers["x-ccapi-routed"] == "haiku"
    assert "haiku" in response.json()["model"]
    # the decision itself: probability, the signals that drove it, the per-tier cost
    routing = response.json()["routing"]
    assert routing["model"] == "haiku" and routing["rule"] == "learned"
    assert 0 < routing["probability"] < 1
    assert routing["signals"]["learned"]["p_strong"] == routing["probability"]
    assert routing["signals"]["learned"]["top_features"]
    assert set(routing["estimated_cost"]) == {"haiku", "sonnet", "opus"}
    assert "on sonnet" in routing["reasoning"]
    headers = response.headers
    assert float(headers["x-ccapi-routed-probability"]) == routing["probability"]
    assert headers["x-ccapi-routed-rule"] == "learned"
    assert json.loads(headers["x-ccapi-routed-cost"]) == routing["estimated_cost"]
    # streams carry it in the headers; an explicit model has no routing at all
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with client.stream(
        "POST", "/v1/chat/completions", json=body, headers=bearer(key)
    ) as streamed:
        assert streamed.headers["x-ccapi-routed-probability"] == str(routing["probability"])
        await streamed.aread()
    explicit = await client.post(
        "/v1/chat/completions",
        json={"model": "haiku", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(key),
    )
    assert "routing" not in explicit.json()
    assert "x-ccapi-routed-probability" not in explicit.headers


async def test_streaming_sse_chunks_end_with_done(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    body = chat_body("stream please", stream=True, stream_options={"include_usage": True})
    async with client.stream(
        "POST", "/v1/chat/completions", json=body, headers=bearer(key)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_conversation_history_reaches_the_cli(
    client: httpx.AsyncClient, sim_calls: Callable[[], list[dict[str, Any]]]
) -> None:
    key = await create_key(client)
    messages = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "haiku", "messages": messages, "cache": False},
        headers=bearer(key),
    )
    assert response.status_code == 200
    assert "x-ccapi-dropped-turns" not in response.headers
    # The earlier turns reached the model as real turns (a resumed session), and only the
    # new question went on stdin (the simulated CLI echoes what it read there).
    said = response.json()["choices"][0]["message"]["content"].split("You said: ", 1)[1]
    assert said.startswith("What is my name? .")
    assert sim_calls()[-1]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello Ada."}]},
        {"role": "user", "content": "What is my name?"},
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "haiku", "messages": []}, "messages"),
        ({"model": "haiku"}, "messages"),
        ({"model": "haiku", "messages": [{"role": "user", "content": 5}]}, "messages"),
        ({"model": "haiku", "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"model": "haiku", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        (
            {"model": "haiku", "messages": [{"role": "assistant", "content": "x"}]},
            "messages",
        ),
    ],
)
async def test_invalid_bodies_get_400_in_openai_shape(
    client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    key = await create_key(client)
    response = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith(param)
    assert error["message"]


async def test_malformed_json_gets_400(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions",
        content=b"{not json",
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "field", ["cwd", "permission_mode", "base_url", "dangerously_skip_permissions"]
)
async def test_fields_that_steer_the_cli_are_refused(client: httpx.AsyncClient, field: str) -> None:
    key = await create_key(client)
    body = chat_body("x", **{field: "/"})
    response = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "forbidden_parameter"
    assert field in error["message"]


@pytest.mark.parametrize("field", ["functions", "function_call"])
async def test_legacy_function_calling_is_refused_with_its_own_message(
    client: httpx.AsyncClient, field: str
) -> None:
    key = await create_key(client)
    body = chat_body("x", **{field: []})
    response = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", field)
    assert "legacy function calling" in error["message"] and "use 'tools'" in error["message"]


async def test_unknown_field_is_refused(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions", json=chat_body("x", frobnicate=1), headers=bearer(key)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"


async def test_agent_mode_refused_unless_enabled(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions", json=chat_body("x", mode="agent"), headers=bearer(key)
    )
    assert response.status_code == 403


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions", json=chat_body("x", model="gpt-4o"), headers=bearer(key)
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_body_too_large_is_413(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, max_body_bytes=10_000)) as (_, client):
        key = await create_key(client)
        response = await client.post(
            "/v1/chat/completions", json=chat_body("x" * 20_000), headers=bearer(key)
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"


async def test_cli_failure_is_502_without_leaking_stderr(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions", json=chat_body("[[sim:exit=3]] boom"), headers=bearer(key)
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert key not in response.text


async def test_upstream_overloaded_is_503(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions",
        json=chat_body("[[sim:error=overloaded]] x"),
        headers=bearer(key),
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_overloaded"


async def test_timeout_is_504(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, task_timeout=1)) as (_, client):
        key = await create_key(client)
        response = await client.post(
            "/v1/chat/completions", json=chat_body("[[sim:hang]]"), headers=bearer(key)
        )
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "timeout"


async def test_busy_is_503_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=1, queue_max=0, task_timeout=5)
    async with running_app(settings) as (_, client):
        key = await create_key(client)
        slow = asyncio.create_task(
            client.post(
                "/v1/chat/completions",
                json=chat_body("[[sim:delay=1.5]] slow"),
                headers=bearer(key),
            )
        )
        await asyncio.sleep(0.5)
        busy = await client.post(
            "/v1/chat/completions", json=chat_body("second"), headers=bearer(key)
        )
        assert busy.status_code == 503
        assert int(busy.headers["Retry-After"]) >= 1
        assert busy.json()["error"]["code"] == "server_busy"
        assert (await slow).status_code == 200


async def test_budget_exhausted_is_429_insufficient_quota(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "small")
    set_budget = await client.put(
        "/admin/projects/small/budget", json={"monthly_limit": 100}, headers=admin_headers()
    )
    assert set_budget.status_code == 200
    response = await client.post(
        "/v1/chat/completions", json=chat_body("x", max_tokens=500), headers=bearer(key)
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    usage = await client.get("/v1/usage", headers=bearer(key))
    assert usage.json()["total_tokens"] == 0


async def test_50_concurrent_requests_against_a_budget_for_10(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=4, queue_max=100, default_max_tokens=90)
    async with running_app(settings) as (_, client):
        key = await create_key(client, "tight", rate_limit=1000)
        # Each request reserves its prompt estimate + 90 output tokens: the budget holds 10.
        prompt = "[[sim:delay=2]] question number 00"
        probe = await client.post(
            "/v1/route", json={"task_description": prompt}, headers=bearer(key)
        )
        per_request = probe.json()["signals"]["estimated_tokens"] + 90
        limit = per_request * 10 + per_request // 2
        await client.put(
            "/admin/projects/tight/budget", json={"monthly_limit": limit}, headers=admin_headers()
        )
        # Reservations are settled with the real (smaller) count as calls finish, so a few more
        # than 10 may be admitted; what must hold is that the budget is never overspent.
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/chat/completions",
                    json=chat_body(prompt.replace("00", f"{i:02d}"), cache=False),
                    headers=bearer(key),
                )
                for i in range(50)
            )
        )
        codes = [r.status_code for r in responses]
        admitted = codes.count(200)
        assert 10 <= admitted < 50
        assert codes.count(429) == 50 - admitted
        assert all(
            r.json()["error"]["code"] == "insufficient_quota"
            for r in responses
            if r.status_code == 429
        )
        usage = await usage_when(client, key, lambda u: u["requests"] >= admitted)
        assert 0 < usage["total_tokens"] <= limit
        assert usage["requests"] == admitted


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        (
            [{"role": "user", "content": [image_part(f"data:image/bmp;base64,{PNG_1X1}")]}],
            "data:image/(png|jpeg|gif|webp);base64",
        ),
        (
            [{"role": "user", "content": [image_part("data:image/png;base64,not*base64")]}],
            "data:image/(png|jpeg|gif|webp);base64",
        ),
        (
            [{"role": "user", "content": [image_part("data:image/png;base64,abc")]}],
            "base64 data is invalid",
        ),
        (
            [{"role": "user", "content": [image_part("http://example.com/cat.png")]}],
            "https:// URL",
        ),
        (
            [
                {"role": "assistant", "content": [image_part(f"data:image/png;base64,{PNG_1X1}")]},
                {"role": "user", "content": "and now?"},
            ],
            "only supported in user messages",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [image_part("https://example.com/a.png")] * 21,
                }
            ],
            "At most 20 images",
        ),
    ],
)
async def test_bad_images_are_400_and_run_nothing(
    client: httpx.AsyncClient, messages: list[dict[str, Any]], fragment: str
) -> None:
    key = await create_key(client)
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "haiku", "messages": messages},
        headers=bearer(key),
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    usage = await client.get("/v1/usage", headers=bearer(key))
    assert usage.json()["requests"] == 0


async def test_images_are_part_of_the_cache_key_and_the_estimate(client: httpx.AsyncClient) -> None:
    key = await create_key(client)

    def body(url: str) -> dict[str, Any]:
        parts = [{"type": "text", "text": "Describe it"}, image_part(url)]
        return {"model": "haiku", "messages": [{"role": "user", "content": parts}]}

    png = f"data:image/png;base64,{PNG_1X1}"
    first = await client.post("/v1/chat/completions", json=body(png), headers=bearer(key))
    again = await client.post("/v1/chat/completions", json=body(png), headers=bearer(key))
    other = await client.post(
        "/v1/chat/completions", json=body("https://example.com/b.png"), headers=bearer(key)
    )
    assert [r.headers["x-ccapi-cache"] for r in (first, again, other)] == ["miss", "hit", "miss"]
    assert "[image https://example.com/b.png]" in other.json()["choices"][0]["message"]["content"]


async def test_images_count_as_routing_context(tmp_path: Path) -> None:
    # Routing counts an image as ~1,600 tokens of context: the seed rules' "> 10k tokens -> opus"
    # shows it (the learned default reads only the text and never picks opus).
    png = f"data:image/png;base64,{PNG_1X1}"
    content = [{"type": "text", "text": "hi"}] + [image_part(png)] * 7
    body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
    async with running_app(make_settings(tmp_path, router_rules="seed")) as (_, client):
        key = await create_key(client)
        routed = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert routed.headers["x-ccapi-routed"] == "opus"  # 7 x 1,600 tokens > 10k: large context
