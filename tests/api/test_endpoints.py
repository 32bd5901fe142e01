"""Batch, usage, route, models, health, readiness and metrics endpoints."""

from __future__ import annotations

from pathlib import Path

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


async def test_batch_processing(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    body = {
        "requests": [
            {"model": "haiku", "prompt": "Task 1"},
            {"model": "haiku", "prompt": "[[sim:exit=2]] Task 2"},
            {"model": "sonnet", "messages": [{"role": "user", "content": "Task 3"}]},
            {"model": "nonsense", "prompt": "Task 4"},
            {"model": "haiku"},
        ],
        "parallel": True,
    }
    response = await client.post("/v1/batch", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    data = response.json()
    assert [r["index"] for r in data["results"]] == [0, 1, 2, 3, 4]
    assert [r["ok"] for r in data["results"]] == [True, False, True, False, False]
    assert data["results"][3]["error"]["code"] == "model_not_found"
    ok = [r["response"] for r in data["results"] if r["ok"]]
    assert data["total_tokens"] == sum(r["usage"]["total_tokens"] for r in ok)
    assert data["succeeded"] == 2 and data["failed"] == 3
    sequential = await client.post(
        "/v1/batch",
        json={"requests": [{"prompt": "a"}, {"prompt": "b"}], "parallel": False},
        headers=bearer(key),
    )
    assert sequential.json()["succeeded"] == 2


async def test_batch_size_is_capped(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, batch_max_items=3)) as (_, client):
        key = await create_key(client)
        body = {"requests": [{"prompt": str(i)} for i in range(4)]}
        response = await client.post("/v1/batch", json=body, headers=bearer(key))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "batch_too_large"


async def test_usage_endpoint(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "metered")
    await client.put(
        "/admin/projects/metered/budget", json={"monthly_limit": 1_000_000}, headers=admin_headers()
    )
    for model in ("haiku", "sonnet", "haiku"):
        r = await client.post(
            "/v1/chat/completions",
            json=chat_body(f"usage {model}", model=model, cache=False),
            headers=bearer(key),
        )
        assert r.status_code == 200
    usage = await usage_when(
        client,
        key,
        lambda u: u["requests"] == 3 and u["remaining"] == 1_000_000 - u["total_tokens"],
        query="?period=month",
    )
    assert usage["project_id"] == "metered" and usage["period"] == "month"
    assert usage["total_tokens"] > 0 and usage["total_cost"] > 0
    assert (
        set(usage["by_model"]) == {"claude-haiku-4-5", "claude-sonnet-4-5"}
        or len(usage["by_model"]) == 2
    )
    assert sum(m["tokens"] for m in usage["by_model"].values()) == usage["total_tokens"]
    assert usage["monthly_limit"] == 1_000_000
    assert usage["remaining"] == 1_000_000 - usage["total_tokens"]
    export = await client.get("/v1/usage/export?format=csv", headers=bearer(key))
    assert export.status_code == 200
    assert len(export.text.strip().splitlines()) == 4  # header + 3 rows
    bad = await client.get("/v1/usage?period=fortnight", headers=bearer(key))
    assert bad.status_code == 400


async def test_route_endpoint(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    simple = await client.post(
        "/v1/route", json={"task_description": "hi", "context_size": 10}, headers=bearer(key)
    )
    assert simple.status_code == 200
    assert simple.json()["recommended_model"] == "haiku"
    assert simple.json()["reasoning"]
    big = await client.post(
        "/v1/route",
        json={"task_description": "Summarise this", "context_size": 50_000},
        headers=bearer(key),
    )
    data = big.json()
    # the learned default: a probability, its own signals, and never opus on its own
    assert data["recommended_model"] in ("haiku", "sonnet")
    assert 0 <= data["probability"] <= 1
    assert data["signals"]["router"] == "learned"
    assert data["signals"]["learned"]["p_strong"] == data["probability"]
    assert set(data["estimated_cost"]) >= {"haiku", "sonnet", "opus"}


async def test_route_endpoint_with_the_seed_profile(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, router_rules="seed")) as (_, client):
        key = await create_key(client)
        big = await client.post(
            "/v1/route",
            json={"task_description": "Summarise this", "context_size": 50_000},
            headers=bearer(key),
        )
    assert big.json()["recommended_model"] == "opus"  # the seed's "context > 10k -> opus"
    assert big.json()["probability"] is None
    assert big.json()["signals"]["router"] == "seed"


async def test_models_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models")
    ids = [m["id"] for m in response.json()["data"]]
    assert {"auto", "haiku", "sonnet", "opus"} <= set(ids)


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["ok"] is True
    key = await create_key(client)
    for prompt in ("m", "n"):  # warm processes are the default: the second one is a hit
        body = chat_body(prompt, cache=False)
        await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    text = (await client.get("/metrics")).text
    assert "ccapi_warm_hits_total 1.0" in text and "ccapi_warm_misses_total 1.0" in text
    assert "ccapi_warm_hit_ratio 0.5" in text and "ccapi_warm_processes" in text
    assert "ccapi_requests_total" in text
    assert "ccapi_tokens_total" in text
    assert "ccapi_workers_busy" in text
    assert "ccapi_cache_lookups_total" in text


async def test_readyz_reports_missing_cli(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=str(tmp_path / "no-such-claude"))
    async with running_app(settings) as (_, client):
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["cli"]["ok"] is False
        key = await create_key(client)
        response = await client.post(
            "/v1/chat/completions", json=chat_body("x"), headers=bearer(key)
        )
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "cli_not_found"


async def test_unknown_route_is_openai_shaped_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_docs_describe_every_endpoint(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/chat/completions", "/v1/batch", "/v1/usage", "/v1/route", "/v1/models"):
        assert path in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_tier_models_pin_a_tier_to_a_full_id(tmp_path: Path) -> None:
    pinned = {"sonnet": "claude-sonnet-4-6"}
    async with running_app(make_settings(tmp_path, tier_models=pinned)) as (_, client):
        ids = [m["id"] for m in (await client.get("/v1/models")).json()["data"]]
        assert ids == ["auto", "haiku", "sonnet", "opus", "claude-sonnet-4-6"]
        key = await create_key(client)
        sonnet = await client.post(
            "/v1/chat/completions", json=chat_body(model="sonnet"), headers=bearer(key)
        )
        assert sonnet.json()["model"] == "claude-sonnet-4-6"  # the pinned id was run
        haiku = await client.post(
            "/v1/chat/completions", json=chat_body(model="haiku"), headers=bearer(key)
        )
        # Unpinned: the alias went to the CLI, which answered with its current haiku.
        assert haiku.json()["model"] == "claude-haiku-4-5"


@pytest.mark.parametrize("bad", [{"gpt": "claude-sonnet-4-6"}, {"sonnet": "opus"}, {"haiku": "  "}])
def test_tier_models_are_validated(tmp_path: Path, bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="tier_models"):
        make_settings(tmp_path, tier_models=bad)
