"""The fake Anthropic upstream itself (plain JSON, SSE, errors, recording)."""

from __future__ import annotations

import json

import httpx

from tests.fakes.upstream import DEFAULT_REPLY, FakeAnthropic, Reply


def test_plain_json_answer_and_recording() -> None:
    with FakeAnthropic() as upstream:
        body = {
            "model": "claude-haiku-4-5",
            "max_tokens": 3,
            "system": [{"text": "S"}],
            "messages": [{"role": "user", "content": "hi"}],
        }
        answer = httpx.post(f"{upstream.url}/v1/messages", json=body).json()
        assert answer["content"][0]["text"] == "Hello from the "
        assert answer["stop_reason"] == "max_tokens"
        assert answer["usage"]["output_tokens"] == 3
        assert upstream.messages[0].system_text == "S" and upstream.messages[0].tools == []
        count = httpx.post(f"{upstream.url}/v1/messages/count_tokens", json=body).json()
        assert count["input_tokens"] > 0
        assert httpx.get(f"{upstream.url}/v1/models").status_code == 404
        assert httpx.head(upstream.url).status_code == 200
        assert len(upstream.requests) == 4
        upstream.clear()
        assert upstream.requests == []


def test_sse_answer() -> None:
    with FakeAnthropic() as upstream:
        body = {"model": "m", "max_tokens": 100, "stream": True, "messages": []}
        with httpx.stream("POST", f"{upstream.url}/v1/messages", json=body) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: ")]
        events = [json.loads(line[6:]) for line in lines]
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
        text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        assert text == DEFAULT_REPLY
        assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_error_reply() -> None:
    with FakeAnthropic(lambda body: Reply(status=529, error_type="overloaded_error")) as up:
        response = httpx.post(f"{up.url}/v1/messages", json={"messages": []})
        assert response.status_code == 529
        assert response.json()["error"]["type"] == "overloaded_error"
