"""Every error in its API's own shape: OpenAI's on OpenAI routes, Anthropic's on /v1/messages.

Covers what the route handlers never see: 404 and 405 from routing, 400 from validation (a
422 in FastAPI's terms), 413 from the body limit and the opaque 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import bearer, create_key, make_settings, running_app


@pytest.fixture
async def app_and_client(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings(tmp_path, max_body_bytes=4096)) as pair:
        yield pair


def is_anthropic(body: dict[str, object], kind: str) -> bool:
    error = body["error"]
    return body["type"] == "error" and isinstance(error, dict) and error["type"] == kind


async def test_messages_routes_answer_every_error_in_anthropic_shape(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = app_and_client
    key = bearer(await create_key(client))
    no_route = await client.post("/v1/messages/nope", json={}, headers=key)
    assert no_route.status_code == 404 and is_anthropic(no_route.json(), "not_found_error")
    wrong_method = await client.get("/v1/messages", headers=key)
    assert wrong_method.status_code == 405
    assert is_anthropic(wrong_method.json(), "invalid_request_error")
    invalid = await client.post("/v1/messages", json={"model": "haiku"}, headers=key)
    assert invalid.status_code == 400 and is_anthropic(invalid.json(), "invalid_request_error")
    assert "max_tokens" in invalid.json()["error"]["message"]
    too_big = await client.post(
        "/v1/messages", content=b"x" * 5000, headers={**key, "content-type": "application/json"}
    )
    assert too_big.status_code == 413 and is_anthropic(too_big.json(), "request_too_large")


async def test_openai_routes_keep_openai_shape(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _app, client = app_and_client
    no_route = await client.post("/v1/chat/nope", json={})
    assert no_route.status_code == 404
    assert no_route.json() == {
        "error": {
            "message": "Not Found",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
    too_big = await client.post(
        "/v1/chat/completions", content=b"x" * 5000, headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"


async def test_an_unexpected_failure_is_an_opaque_500_in_each_style(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _client = app_and_client

    async def boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    # Routes that fail the way a bug would; the app's own handlers render the 500.
    app.add_api_route("/v1/messages/boom", boom)
    app.add_api_route("/v1/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        anthropic_500 = await client.get("/v1/messages/boom")
        openai_500 = await client.get("/v1/boom")
    assert anthropic_500.status_code == 500 and is_anthropic(anthropic_500.json(), "api_error")
    assert openai_500.status_code == 500
    assert openai_500.json()["error"]["code"] == "internal_error"
    for response in (anthropic_500, openai_500):
        assert "secret" not in response.text
