"""API keys, project isolation and per-key rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (
    ADMIN_KEY,
    admin_headers,
    bearer,
    chat_body,
    create_key,
    make_settings,
    running_app,
    usage_when,
)


@pytest.fixture
async def seed_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app routing ``auto`` by the seed profile (its keyword rules pick sonnet for analysis)."""
    async with running_app(make_settings(tmp_path, router_rules="seed")) as (_, client):
        yield client


async def test_authentication(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/chat/completions", json=chat_body())
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    key = await create_key(client)
    ok = await client.post("/v1/chat/completions", json=chat_body(), headers=bearer(key))
    assert ok.status_code == 200


async def test_valid_key_accepted(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "proj-ok")
    response = await client.get("/v1/usage", headers=bearer(key))
    assert response.status_code == 200
    assert response.json()["project_id"] == "proj-ok"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ccapi_definitely_not_a_key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
        "ccapi_no_scheme",
    ],
)
async def test_invalid_key_rejected(client: httpx.AsyncClient, header: str) -> None:
    real = await create_key(client)
    response = await client.get("/v1/usage", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert real not in response.text and real[:12] not in response.text


async def test_revoked_key_rejected(client: httpx.AsyncClient) -> None:
    created = await client.post("/admin/keys", json={"project_id": "rev"}, headers=admin_headers())
    key, key_id = created.json()["key"], created.json()["key_id"]
    assert (await client.get("/v1/usage", headers=bearer(key))).status_code == 200
    revoked = await client.delete(f"/admin/keys/{key_id}", headers=admin_headers())
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    response = await client.get("/v1/usage", headers=bearer(key))
    assert response.status_code == 401
    missing = await client.delete("/admin/keys/nope", headers=admin_headers())
    assert missing.status_code == 404


async def test_keys_listing_never_shows_secrets(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "listed")
    listing = await client.get("/admin/keys?project_id=listed", headers=admin_headers())
    assert listing.status_code == 200
    assert len(listing.json()) == 1
    assert key not in listing.text
    assert key.startswith(listing.json()[0]["prefix"])


async def test_cross_project_access_denied(client: httpx.AsyncClient) -> None:
    key_a = await create_key(client, "alpha")
    await create_key(client, "beta")
    spend = await client.post(
        "/v1/chat/completions", json=chat_body(project_id="beta"), headers=bearer(key_a)
    )
    assert spend.status_code == 403
    read = await client.get("/v1/usage?project_id=beta", headers=bearer(key_a))
    assert read.status_code == 403
    export = await client.get("/v1/usage/export?project_id=beta", headers=bearer(key_a))
    assert export.status_code == 403
    own = await client.get("/v1/usage?project_id=alpha", headers=bearer(key_a))
    assert own.status_code == 200


async def test_admin_routes_need_the_admin_key(client: httpx.AsyncClient) -> None:
    key = await create_key(client)
    forbidden = await client.post("/admin/keys", json={"project_id": "x"}, headers=bearer(key))
    assert forbidden.status_code == 403
    anonymous = await client.get("/admin/keys")
    assert anonymous.status_code == 401
    assert (await client.get("/admin/keys", headers=admin_headers())).status_code == 200


async def test_admin_reads_any_project_usage(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "watched")
    await client.post("/v1/chat/completions", json=chat_body("x"), headers=bearer(key))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = await client.get("/v1/usage?project_id=watched", headers=headers)
    assert response.status_code == 200
    no_project = await client.get("/v1/usage", headers=headers)
    assert no_project.status_code == 403


async def test_rate_limiting(client: httpx.AsyncClient) -> None:
    key = await create_key(client, "limited", rate_limit=3)
    codes = []
    for _ in range(5):
        response = await client.get("/v1/usage", headers=bearer(key))
        codes.append(response.status_code)
        if response.status_code == 200:
            assert response.headers["X-RateLimit-Limit"] == "3"
    assert codes == [200, 200, 200, 429, 429]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    other = await create_key(client, "limited", rate_limit=3)
    assert (await client.get("/v1/usage", headers=bearer(other))).status_code == 200


async def test_a_key_capped_at_haiku_cannot_spend_more(seed_client: httpx.AsyncClient) -> None:
    client = seed_client
    created = await client.post(
        "/admin/keys",
        json={"project_id": "interns", "max_tier": "haiku"},
        headers=admin_headers(),
    )
    assert created.status_code == 201 and created.json()["max_tier"] == "haiku"
    key = created.json()["key"]
    for model in ("sonnet", "claude-opus-4-1"):
        refused = await client.post(
            "/v1/chat/completions", json=chat_body("hi", model=model), headers=bearer(key)
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "model_not_allowed"
    analysis = "Analyze the architecture of our billing service and find the bottleneck."
    routed = await client.post(
        "/v1/chat/completions", json=chat_body(analysis, model="auto"), headers=bearer(key)
    )
    assert routed.status_code == 200 and routed.headers["x-ccapi-routed"] == "haiku"
    advice = await client.post(
        "/v1/route", json={"task_description": analysis}, headers=bearer(key)
    )
    assert advice.json()["recommended_model"] == "haiku"
    assert "capped at haiku by the API key (the router chose sonnet)" in advice.json()["reasoning"]
    batch = await client.post(
        "/v1/batch",
        json={"requests": [{"model": "haiku", "prompt": "a"}, {"model": "opus", "prompt": "b"}]},
        headers=bearer(key),
    )
    assert [r["ok"] for r in batch.json()["results"]] == [True, False]
    usage = await usage_when(client, key, lambda u: u["requests"] >= 2)
    assert usage["requests"] == 2  # the auto call and the haiku batch item; refusals cost nothing
    bad = await client.post(
        "/admin/keys", json={"project_id": "interns", "max_tier": "gpt"}, headers=admin_headers()
    )
    assert bad.status_code == 400
