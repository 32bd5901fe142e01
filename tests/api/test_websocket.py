"""``/v1/stream`` over a real WebSocket (Starlette's TestClient runs the app's lifespan)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from claude_code_api.app import create_app
from tests.api.conftest import admin_headers, make_settings


@pytest.fixture
def ws_client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        created = client.post("/admin/keys", json={"project_id": "ws"}, headers=admin_headers())
        yield client, created.json()["key"]


def test_websocket_connection(ws_client: tuple[TestClient, str]) -> None:
    client, key = ws_client
    with client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {key}"}) as ws:
        ws.send_json(
            {"type": "chat", "model": "haiku", "messages": [{"role": "user", "content": "hi"}]}
        )
        frames = []
        while True:
            frame = ws.receive_json()
            frames.append(frame)
            if frame["type"] in ("done", "error"):
                break
    assert frames[-1]["type"] == "done"
    assert frames[-1]["usage"]["total_tokens"] > 0


def test_streaming_response(ws_client: tuple[TestClient, str]) -> None:
    client, key = ws_client
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_json({"type": "auth", "api_key": key})
        prompt_tokens = []
        for turn in ("My name is Ada.", "What is my name?"):
            ws.send_json(
                {
                    "type": "chat",
                    "model": "sonnet",
                    "session_id": "s1",
                    "messages": [{"role": "user", "content": turn}],
                }
            )
            tokens = []
            while True:
                frame = ws.receive_json()
                if frame["type"] == "token":
                    tokens.append(frame["content"])
                else:
                    break
            assert frame["type"] == "done", frame
            assert "".join(tokens)
            prompt_tokens.append(frame["usage"]["prompt_tokens"])
        # The second turn carried the first (question and answer) as history, so its prompt
        # was longer; and the history reached the CLI as real turns (a resumed session).
        assert prompt_tokens[1] > prompt_tokens[0] > 0
        assert "".join(tokens).endswith("Resumed: 2 earlier messages.")


def test_websocket_error_handling(ws_client: tuple[TestClient, str]) -> None:
    client, key = ws_client
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_json({"type": "auth", "api_key": "wrong"})
        frame = ws.receive_json()
        assert frame["type"] == "error"
        assert frame["error"]["type"] == "authentication_error"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    with client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {key}"}) as ws:
        ws.send_json({"type": "hello"})
        assert ws.receive_json()["error"]["param"] == "type"
        ws.send_json(
            {"type": "chat", "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
        )
        assert ws.receive_json()["error"]["code"] == "model_not_found"
        ws.send_json({"type": "chat", "model": "haiku", "messages": []})
        assert ws.receive_json()["error"]["type"] == "invalid_request_error"
        ws.send_json(
            {
                "type": "chat",
                "model": "haiku",
                "messages": [{"role": "user", "content": "[[sim:exit=4]]"}],
            }
        )
        assert ws.receive_json()["error"]["code"].startswith("cli")
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"


def test_websocket_honours_stop_like_the_http_api(ws_client: tuple[TestClient, str]) -> None:
    client, key = ws_client
    with client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {key}"}) as ws:
        ws.send_json(
            {
                "type": "chat",
                "model": "haiku",
                "cache": False,
                "stop": ["a deterministic"],
                "messages": [{"role": "user", "content": "hi"}],
            }
        )
        tokens = []
        while (frame := ws.receive_json())["type"] == "token":
            tokens.append(frame["content"])
    assert frame["type"] == "done" and frame["finish_reason"] == "stop"
    text = "".join(tokens)
    assert text.endswith("This is ") and "deterministic" not in text


def _chat_over(ws: Any) -> dict[str, Any]:
    """Send one chat message; the last frame of its answer (``done`` or ``error``)."""
    message = {"role": "user", "content": "hi"}
    ws.send_json({"type": "chat", "model": "haiku", "messages": [message]})
    while (frame := ws.receive_json())["type"] == "token":
        pass
    return dict(frame)


def test_websocket_and_http_accept_the_same_keys_and_share_one_rate_limit(
    tmp_path: Path,
) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        created = client.post(
            "/admin/keys", json={"project_id": "ws", "rate_limit": 4}, headers=admin_headers()
        )
        key = created.json()["key"]
        # The same credentials, in every form, on both surfaces (requests 1 to 4 of 4).
        assert client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"}).is_success
        assert client.get("/v1/usage", headers={"x-api-key": key}).is_success
        with client.websocket_connect("/v1/stream", headers={"x-api-key": key}) as ws:
            assert _chat_over(ws)["type"] == "done"
        with client.websocket_connect("/v1/stream") as ws:
            ws.send_json({"type": "auth", "api_key": key})
            assert _chat_over(ws)["type"] == "done"
            # The fifth request in the minute is refused, over the WebSocket...
            refused = _chat_over(ws)
        assert refused["type"] == "error"
        assert refused["error"]["code"] == "rate_limit_exceeded"
        # ... and over HTTP: one counter per key, whatever the surface.
        over = client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"})
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limit_exceeded"
        # A wrong key is refused the same way on both.
        assert client.get("/v1/usage", headers={"x-api-key": "nope"}).status_code == 401
        with client.websocket_connect("/v1/stream", headers={"x-api-key": "nope"}) as ws:
            frame = ws.receive_json()
            assert frame["error"]["type"] == "authentication_error"
