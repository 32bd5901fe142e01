"""Hostile input through every surface (issue 11, item 5): 4xx or success, never a 5xx.

First the probe's exact findings, then hypothesis strategies of hostile strings (lone
surrogates, NUL, control characters, huge values) sent as model, text, project id and session
id through chat, messages, batch and the WebSocket, with the invariant "4xx or success, never
5xx, and every admitted call has exactly one usage row".
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_code_api.app import create_app
from tests.api.conftest import admin_headers, bearer, make_settings, running_app, usage_when


def raw_post(client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    """POST ``body`` as ASCII JSON, so lone surrogates travel as ``\\udxxx`` escapes."""
    return client.post(
        path, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )


@pytest.fixture
async def app_and_key(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    async with running_app(make_settings(tmp_path, default_rate_limit=100_000)) as (app, client):
        created = await client.post(
            "/admin/keys", json={"project_id": "hostile"}, headers=admin_headers()
        )
        yield app, client, created.json()["key"]


@pytest.mark.parametrize("cache", [True, False], ids=["cache-on", "cache-off"])
@pytest.mark.parametrize("text", ["hi \ud800 there", "hi \x00 there"], ids=["surrogate", "nul"])
async def test_bad_text_in_a_prompt_is_a_400_naming_the_field(
    tmp_path: Path, cache: bool, text: str
) -> None:
    async with running_app(make_settings(tmp_path, cache_ttl=3600 if cache else 0)) as (_, c):
        key = (
            await c.post("/admin/keys", json={"project_id": "p"}, headers=admin_headers())
        ).json()["key"]
        chat = {"model": "haiku", "messages": [{"role": "user", "content": text}]}
        response = await raw_post(c, "/v1/chat/completions", chat, bearer(key))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "messages[0].content"
        anthropic = {**chat, "max_tokens": 10}
        response = await raw_post(c, "/v1/messages", anthropic, {"x-api-key": key})
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "error"


async def test_identifiers_are_capped_and_checked(
    app_and_key: tuple[FastAPI, httpx.AsyncClient, str],
) -> None:
    _, client, key = app_and_key
    long_id = "p" * 5000
    body = {
        "model": "haiku",
        "messages": [{"role": "user", "content": "hi"}],
        "project_id": long_id,
    }
    response = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "project_id"
    budget = await client.put(
        f"/admin/projects/{long_id}/budget", json={"monthly_limit": 5}, headers=admin_headers()
    )
    assert budget.status_code == 400 and budget.json()["error"]["param"] == "project_id"
    key_body = {"project_id": "ok", "name": "bad\x00name"}
    created = await raw_post(client, "/admin/keys", key_body, admin_headers())
    assert created.status_code == 400 and "name" in created.json()["error"]["param"]


@pytest.mark.parametrize("value", [False, True, "5", 1.5, -1])
async def test_a_monthly_limit_that_is_not_a_count_is_refused(
    app_and_key: tuple[FastAPI, httpx.AsyncClient, str], value: object
) -> None:
    _, client, _key = app_and_key
    response = await client.put(
        "/admin/projects/hostile/budget", json={"monthly_limit": value}, headers=admin_headers()
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "monthly_limit"
    status = await client.get("/v1/usage?project_id=hostile", headers=admin_headers())
    assert status.json()["monthly_limit"] is None  # unchanged, not 0


async def test_a_chunked_body_over_the_limit_is_a_413(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, max_body_bytes=10_000)) as (_app, client):
        key = (
            await client.post("/admin/keys", json={"project_id": "c"}, headers=admin_headers())
        ).json()["key"]

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"model": "haiku", "messages": [{"role": "user", "content": "'
            for _ in range(20):
                yield b"x" * 1000
            yield b'"}]}'

        response = await client.post(
            "/v1/chat/completions",
            content=chunks(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        assert response.status_code == 413, response.text
        small = await client.post(
            "/v1/chat/completions",
            content=_once(b'{"model": "haiku", "messages": [{"role": "user", "content": "hi"}]}'),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        assert small.status_code == 200, small.text  # a small chunked body still works


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def ws_app(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(make_settings(tmp_path, default_rate_limit=100_000))) as client:
        created = client.post("/admin/keys", json={"project_id": "ws"}, headers=admin_headers())
        yield client, created.json()["key"]


def test_a_binary_websocket_frame_is_a_clean_error(ws_app: tuple[TestClient, str]) -> None:
    client, key = ws_app
    with client.websocket_connect("/v1/stream", headers=bearer(key)) as ws:
        ws.send_bytes(b"\x00\x01binary")
        frame = ws.receive_json()
        assert frame["type"] == "error"
        assert "JSON text" in frame["error"]["message"]
        closed = ws.receive()
        assert closed == {"type": "websocket.close", "code": 1003, "reason": ""}


def test_a_bad_session_id_is_an_error_frame(ws_app: tuple[TestClient, str]) -> None:
    client, key = ws_app
    with client.websocket_connect("/v1/stream", headers=bearer(key)) as ws:
        for bad in ("a" * 5000, "x\x00y", "../etc", ["list"]):
            ws.send_json(
                {"type": "chat", "model": "haiku", "session_id": bad,
                 "messages": [{"role": "user", "content": "hi"}]}
            )  # fmt: skip
            frame = ws.receive_json()
            assert frame["type"] == "error" and frame["error"]["param"] == "session_id", frame


# --- hypothesis: hostile strings through every surface -------------------------------------

HOSTILE = st.one_of(
    st.text(
        alphabet=st.characters(
            codec=None, categories=["Cs", "Cc", "Zl", "Zp", "Cf", "Lu", "Nd"]
        ),
        max_size=40,
    ),
    st.sampled_from(
        [
            "\ud800", "\udfff", "\x00", "claude-haiku\n--tools Bash", "a" * 300_000,
            "haiku\x00", "claude-opus-4-1-haiku", "-p", "--model=opus", "\u2028", "${HOME}",
        ]
    ),
)  # fmt: skip
FIELD = st.sampled_from(["model", "content", "project_id", "system", "stop", "name"])
SURFACE = st.sampled_from(["chat", "messages", "batch", "stream"])


def _body(surface: str, field: str, value: str) -> tuple[str, dict[str, Any]]:
    model = value if field == "model" else "haiku"
    content = value if field == "content" else "hello"
    if surface == "messages":
        body: dict[str, Any] = {
            "model": model, "max_tokens": 16,
            "messages": [{"role": "user", "content": content}],
        }  # fmt: skip
        if field == "system":
            body["system"] = value
        if field == "stop":
            body["stop_sequences"] = [value]
        return "/v1/messages", body
    message: dict[str, Any] = {"role": "user", "content": content}
    if field == "name":
        message["name"] = value
    messages = [message]
    if field == "system":
        messages.insert(0, {"role": "system", "content": value})
    body = {"model": model, "messages": messages}
    if field == "project_id":
        body["project_id"] = value
    if field == "stop":
        body["stop"] = [value]
    if surface == "batch":
        item = {"model": model, "prompt": content}
        return "/v1/batch", {
            "requests": [item],
            **({"project_id": value} if field == "project_id" else {}),
        }
    if surface == "stream":
        body["stream"] = True
    return "/v1/chat/completions", body


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(surface=SURFACE, field=FIELD, value=HOSTILE)
async def test_hostile_strings_never_cause_a_5xx_and_every_admitted_call_is_one_usage_row(
    app_and_key: tuple[FastAPI, httpx.AsyncClient, str], surface: str, field: str, value: str
) -> None:
    _, client, key = app_and_key
    before = (await client.get("/v1/usage", headers=bearer(key))).json()["requests"]
    path, body = _body(surface, field, value)
    headers = {"x-api-key": key} if path == "/v1/messages" else bearer(key)
    response = await raw_post(client, path, body, headers)
    assert response.status_code < 500, (path, field, response.text[:300])
    admitted = 0
    if response.status_code == 200:
        if path == "/v1/batch":
            admitted = sum(1 for r in response.json()["results"] if r["ok"])
        elif "error" not in response.text[:200]:
            admitted = 1
    usage = await usage_when(client, key, lambda u: u["requests"] >= before + admitted)
    assert usage["requests"] == before + admitted, (path, field, response.status_code)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(["model", "content", "session_id", "system"]), value=HOSTILE)
def test_hostile_strings_over_the_websocket_are_error_frames_never_a_broken_connection(
    ws_app: tuple[TestClient, str], field: str, value: str
) -> None:
    client, key = ws_app
    before = client.get("/v1/usage", headers=bearer(key)).json()["requests"]
    messages: list[dict[str, str]] = [
        {"role": "user", "content": value if field == "content" else "hello"}
    ]
    if field == "system":
        messages.insert(0, {"role": "system", "content": value})
    chat: dict[str, Any] = {
        "type": "chat", "model": value if field == "model" else "haiku", "messages": messages,
    }  # fmt: skip
    if field == "session_id":
        chat["session_id"] = value
    with client.websocket_connect("/v1/stream", headers=bearer(key)) as ws:
        ws.send_text(json.dumps(chat))  # ASCII JSON: lone surrogates as escapes
        while (frame := ws.receive_json())["type"] == "token":
            pass
        assert frame["type"] in ("done", "error"), frame
        ws.send_json({"type": "ping"})  # the connection is still usable
        assert ws.receive_json()["error"]["param"] == "type"
    admitted = 1 if frame["type"] == "done" else 0
    for _ in range(200):
        usage = client.get("/v1/usage", headers=bearer(key)).json()
        if usage["requests"] >= before + admitted:
            break
    assert usage["requests"] == before + admitted
