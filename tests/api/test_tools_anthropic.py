"""Tool use through the official ``anthropic`` SDK, on the simulated CLI and the REAL binary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, cli_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CLOCK: Any = {
    "name": "get_time",
    "description": "Current time.",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
ASK = 'Weather in Paris and the time? [[call:get_weather {"city": "Paris"}]] [[call:get_time]]'


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_cli)])
def sdk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[anthropic.Anthropic]:
    """An anthropic client on a live server running the simulated or the real CLI."""
    with ServerThread(create_app(cli_settings(request, tmp_path))) as server:
        key = admin_create_key_sync(server.url, "tools")
        with anthropic.Anthropic(
            base_url=server.url, api_key=key, max_retries=0, timeout=90
        ) as client:
            yield client


def test_tool_use_round_trip(sdk: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = sdk.messages.create(
        model="haiku", max_tokens=500, messages=messages, tools=[WEATHER, CLOCK]
    )
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21 C"},
                {
                    "type": "tool_result",
                    "tool_use_id": uses[1].id,
                    "content": [{"type": "text", "text": "clock broken"}],
                    "is_error": True,
                },
            ],
        }
    )
    final = sdk.messages.create(
        model="haiku", max_tokens=500, messages=messages, tools=[WEATHER, CLOCK]
    )
    assert final.stop_reason == "end_turn"
    text = "".join(b.text for b in final.content if b.type == "text")
    assert "sunny, 21 C" in text and "clock broken" in text


def test_streamed_tool_use_accumulates_in_the_sdk(sdk: anthropic.Anthropic) -> None:
    with sdk.messages.stream(
        model="haiku",
        max_tokens=500,
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"})]
    assert "input_json" in kinds


def test_bad_tool_input_is_a_400(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as name:
        sdk.messages.create(
            model="haiku",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            tools=[{"name": "no spaces", "input_schema": {"type": "object"}}],
        )
    assert "tools.0.name" in str(name.value)
    for tools, field in (
        ([{"name": "f", "input_schema": {"type": "string"}}], "input_schema"),
        ([WEATHER] * 129, "tools"),
    ):
        with pytest.raises(anthropic.BadRequestError) as bad:
            sdk.messages.create(
                model="haiku", max_tokens=10, messages=[{"role": "user", "content": "x"}],
                tools=tools,
            )  # fmt: skip
        assert bad.value.status_code == 400 and field in str(bad.value), str(bad.value)
    with pytest.raises(anthropic.BadRequestError) as orphan:
        sdk.messages.create(
            model="haiku",
            max_tokens=10,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}],
                }
            ],
            tools=[WEATHER],
        )
    assert "tool_use_id" in str(orphan.value)
    with pytest.raises(anthropic.BadRequestError) as choice:
        sdk.messages.create(
            model="haiku",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            tools=[WEATHER],
            tool_choice={"type": "tool", "name": "absent"},
        )
    assert "tool_choice" in str(choice.value)


def test_any_without_parallel_use_then_none(sdk: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = sdk.messages.create(
        model="haiku",
        max_tokens=500,
        messages=messages,
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"})]
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}],
        }
    )
    with sdk.messages.stream(
        model="haiku",
        max_tokens=500,
        messages=messages,
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert "sunny" in "".join(b.text for b in final.content if b.type == "text")
    plain = sdk.messages.create(
        model="haiku",
        max_tokens=500,
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "none"},
    )
    assert plain.stop_reason == "end_turn"
    assert not [b for b in plain.content if b.type == "tool_use"]
