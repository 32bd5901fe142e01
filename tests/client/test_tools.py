"""Typed tool calls in the Python client (sync, async, streamed) against the real service on
the simulated CLI: the model's calls come back as :class:`ToolCall` objects, and
``Completion.message`` plus ``ToolCall.result`` carry the round trip."""

from __future__ import annotations

from typing import Any

import pytest

from claude_code_api import AsyncClaudeClient, ClaudeClient
from claude_code_api.client import BadRequestError, ToolCall, ToolParam

from .conftest import LiveServer

WEATHER: ToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLOCK: ToolParam = {
    "type": "function",
    "function": {"name": "get_time", "description": "Current time."},
}
ASK = 'Weather in Paris and the time? [[call:get_weather {"city": "Paris"}]] [[call:get_time]]'


def run(call: ToolCall) -> str:
    """The client-side tools."""
    return f"{call.args.get('city', 'here')}: sunny" if call.name == "get_weather" else "14:05"


@pytest.fixture(scope="module")
def key(server: LiveServer) -> str:
    return server.create_key("client-tools")


def test_sync_round_trip_with_typed_calls(server: LiveServer, key: str) -> None:
    with ClaudeClient(base_url=server.url, api_key=key, max_retries=0) as client:
        messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
        first = client.chat(messages, "haiku", tools=[WEATHER, CLOCK])
        assert first.finish_reason == "tool_calls"
        assert [(c.name, c.args) for c in first.tool_calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {}),
        ]
        assert all(isinstance(c, ToolCall) and c.id.startswith("toolu_") for c in first.tool_calls)
        assert first.message["content"] is None
        assert first.message["tool_calls"][0]["function"]["name"] == "get_weather"
        messages.append(first.message)
        messages += [call.result(run(call)) for call in first.tool_calls]
        final = client.chat(messages, "haiku", tools=[WEATHER, CLOCK])
        assert final.finish_reason == "stop" and final.tool_calls == ()
        assert "Paris: sunny" in final.content and "14:05" in final.content
        # A named tool_choice is a tool's name; a result for no call is the server's 400.
        named = client.chat([{"role": "user", "content": ASK}], "haiku", tools=[WEATHER, CLOCK],
                            tool_choice="get_time", cache=False)  # fmt: skip
        assert [c.name for c in named.tool_calls] == ["get_time"]
        with pytest.raises(BadRequestError) as orphan:
            client.chat([*messages[:1], ToolCall("call_x", "f").result("1")], "haiku",
                        tools=[WEATHER])  # fmt: skip
        assert orphan.value.param == "messages[1].tool_call_id"


def test_streamed_calls_assemble_then_the_result_streams(server: LiveServer, key: str) -> None:
    with ClaudeClient(base_url=server.url, api_key=key, max_retries=0) as client:
        messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
        with client.stream(messages, "haiku", tools=[WEATHER, CLOCK],
                           parallel_tool_calls=False) as stream:  # fmt: skip
            assert list(stream) == []  # no text before the calls
            first = stream.get_final_completion()
        assert stream.finish_reason == "tool_calls"
        assert [(c.name, c.args) for c in stream.tool_calls] == [("get_weather", {"city": "Paris"})]
        assert first.tool_calls == stream.tool_calls and first.message == stream.message
        messages += [first.message, first.tool_calls[0].result("rain", is_error=True)]
        text = "".join(client.stream(messages, "haiku", tools=[WEATHER, CLOCK]))
        assert "rain" in text


async def test_async_round_trip(server: LiveServer, key: str) -> None:
    async with AsyncClaudeClient(base_url=server.url, api_key=key, max_retries=0) as client:
        messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
        stream = client.stream(messages, "haiku", tools=[WEATHER, CLOCK], cache=False)
        first = await stream.get_final_completion()
        assert [c.name for c in first.tool_calls] == ["get_weather", "get_time"]
        messages.append(first.message)
        messages += [call.result(run(call)) for call in first.tool_calls]
        final = await client.chat(messages, "haiku", tools=[WEATHER, CLOCK])
        assert "Paris: sunny" in final.content and "14:05" in final.content


def test_batch_items_with_tools_give_typed_calls(server: LiveServer, key: str) -> None:
    with ClaudeClient(base_url=server.url, api_key=key, max_retries=0) as client:
        results = client.batch(
            [{"prompt": ASK, "tools": [WEATHER, CLOCK]}, "no tools here"], model="haiku"
        )
    called, plain = results
    assert called.completion is not None and called.completion.finish_reason == "tool_calls"
    assert [c.name for c in called.completion.tool_calls] == ["get_weather", "get_time"]
    assert plain.completion is not None and plain.completion.tool_calls == ()
