"""Client tools on the other surfaces: ``/v1/batch`` items and the WebSocket (a ``tool_calls``
frame, then the client's ``tool_results``), on the simulated CLI and, for the WebSocket, on
the REAL binary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from claude_code_api.app import create_app
from tests.api.conftest import admin_headers, make_settings
from tests.api.tool_defs import ASK, CLOCK, WEATHER
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        created = client.post("/admin/keys", json={"project_id": "tools"}, headers=admin_headers())
        yield client, created.json()["key"]


def test_batch_items_offer_tools_and_take_results(app: tuple[TestClient, str]) -> None:
    client, key = app
    auth = {"Authorization": f"Bearer {key}"}
    items = [
        {"model": "haiku", "prompt": ASK, "tools": [WEATHER, CLOCK]},
        {"model": "haiku", "prompt": ASK, "tools": [WEATHER, CLOCK], "tool_choice": "none"},
        {"model": "haiku", "prompt": ASK, "tools": [WEATHER], "parallel_tool_calls": False,
         "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
    ]  # fmt: skip
    first = client.post("/v1/batch", json={"requests": items}, headers=auth).json()
    called, plain, refused = first["results"]
    assert called["ok"] and called["response"]["choices"][0]["finish_reason"] == "tool_calls"
    message = called["response"]["choices"][0]["message"]
    calls = message["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    assert plain["ok"] and plain["response"]["choices"][0]["finish_reason"] == "stop"
    assert not refused["ok"] and refused["error"]["param"] == "tool_choice"
    # The results come back as a batch item too (the suspended run answers them).
    history = [
        {"role": "user", "content": ASK},
        message,
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "14:05"},
    ]
    second = client.post(
        "/v1/batch",
        json={"requests": [{"model": "haiku", "messages": history, "tools": [WEATHER, CLOCK]}]},
        headers=auth,
    ).json()
    final = second["results"][0]["response"]["choices"][0]
    assert final["finish_reason"] == "stop"
    assert "sunny" in final["message"]["content"] and "14:05" in final["message"]["content"]


def answer(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """The frames of one answer: tokens, maybe tool_calls, then done or error."""
    frames = [ws.receive_json()]
    while frames[-1]["type"] not in ("done", "error"):
        frames.append(ws.receive_json())
    return frames


def run_tool_session(ws: WebSocketTestSession, *, session_id: str | None) -> list[dict[str, Any]]:
    """A tool_calls frame, then tool_results, then the final answer; returns all frames."""
    chat: dict[str, Any] = {"type": "chat", "model": "haiku", "tools": [WEATHER, CLOCK]}
    if session_id:
        chat["session_id"] = session_id
    ws.send_json({**chat, "messages": [{"role": "user", "content": ASK}]})
    first = answer(ws)
    assert [f["type"] for f in first] == ["tool_calls", "done"]
    assert first[-1]["finish_reason"] == "tool_calls"
    calls = first[0]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    ws.send_json({"type": "tool_results", "results": []})
    assert answer(ws)[0]["error"]["param"] == "results"  # the calls still wait
    results = [
        {"tool_call_id": calls[0]["id"], "content": "sunny"},
        {"tool_call_id": calls[1]["id"], "content": "clock broken", "is_error": True},
    ]
    ws.send_json({"type": "tool_results", "results": results})
    second = answer(ws)
    assert second[-1]["type"] == "done" and second[-1]["finish_reason"] == "stop", second
    text = "".join(f["content"] for f in second if f["type"] == "token")
    assert "sunny" in text and "clock broken" in text
    return first + second


@pytest.mark.parametrize("session_id", [None, "tools-1"])
def test_websocket_tool_calls_frame_then_results(
    app: tuple[TestClient, str], session_id: str | None
) -> None:
    client, key = app
    with client.websocket_connect("/v1/stream", headers={"x-api-key": key}) as ws:
        ws.send_json({"type": "tool_results", "results": [{"tool_call_id": "x", "content": "1"}]})
        assert answer(ws)[0]["error"]["param"] == "type"  # nothing is waiting yet
        run_tool_session(ws, session_id=session_id)
        # Those results were taken: nothing waits any more; plain chat frames still work.
        ws.send_json({"type": "tool_results", "results": [{"tool_call_id": "x", "content": "1"}]})
        assert answer(ws)[0]["error"]["param"] == "type"
        ws.send_json(
            {"type": "chat", "model": "haiku", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert answer(ws)[-1]["type"] == "done"


@pytest.mark.real_cli
def test_websocket_tools_on_the_real_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with TestClient(create_app(settings)) as client:
        created = client.post("/admin/keys", json={"project_id": "ws"}, headers=admin_headers())
        key = created.json()["key"]
        with client.websocket_connect("/v1/stream", headers={"x-api-key": key}) as ws:
            run_tool_session(ws, session_id=None)
    # One CLI process: the results reached the model as real tool_result blocks.
    assert len(fake_upstream.messages) == 2
    blocks = fake_upstream.messages[-1].body["messages"][-1]["content"]
    assert [b["type"] for b in blocks if b["type"] == "tool_result"] == ["tool_result"] * 2
