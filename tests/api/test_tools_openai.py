"""Tool calling through the official ``openai`` SDK, on the simulated CLI and the REAL binary.

The fakes call the tools the prompt's markers name (``[[call:NAME {args}]]``, see
``tests/fakes/upstream.py``), so the same requests run on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, cli_settings
from tests.api.tool_defs import ASK, CLOCK, WEATHER
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_cli)])
def sdk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[openai.OpenAI]:
    """An openai client on a live server running the simulated or the real CLI."""
    with ServerThread(create_app(cli_settings(request, tmp_path))) as server:
        key = admin_create_key_sync(server.url, "tools")
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=90
        ) as client:
            yield client


def test_parallel_calls_and_the_result_round_trip(sdk: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = sdk.chat.completions.create(model="haiku", messages=messages, tools=[WEATHER, CLOCK])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    assert all(c.type == "function" and c.id for c in calls)
    assert first.usage is not None and first.usage.completion_tokens > 0
    messages.append(choice.message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21 C"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"},
    ]
    final = sdk.chat.completions.create(model="haiku", messages=messages, tools=[WEATHER, CLOCK])
    assert final.choices[0].finish_reason == "stop"
    text = final.choices[0].message.content or ""
    assert "sunny, 21 C" in text and "14:05" in text


def test_streamed_tool_calls_assemble_in_the_sdk(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER, CLOCK],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function is not None:
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert all(c["id"].startswith("toolu_") for c in calls.values())


def test_tool_choice_none_and_named(sdk: openai.OpenAI) -> None:
    plain = sdk.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER, CLOCK],
        tool_choice="none",
    )
    assert plain.choices[0].finish_reason == "stop" and not plain.choices[0].message.tool_calls
    named = sdk.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls or []] == ["get_time"]


def test_bad_tool_requests_are_400s_naming_the_field(sdk: openai.OpenAI) -> None:
    user: Any = [{"role": "user", "content": "hi"}]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 3}}}]},
            "parameters",
        ),
        ({"tools": [WEATHER] * 129}, "tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
         "tool_choice"),
        ({"functions": [{"name": "f"}]}, "functions"),
    ]  # fmt: skip
    for extra, field in cases:
        with pytest.raises(openai.BadRequestError) as error:
            sdk.chat.completions.create(model="haiku", messages=user, **extra)
        body: Any = error.value.body
        assert field in str(body["param"]), (extra, body)
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk.chat.completions.create(
            model="haiku",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_nope", "content": "x"},
            ],
            tools=[WEATHER],
        )
    assert "messages[1].tool_call_id" in str(unknown.value.body)


def test_a_follow_up_without_the_run_rebuilds_the_conversation(
    sdk: openai.OpenAI, tmp_path: Path
) -> None:
    # A history from elsewhere (another replica, a restart): no suspended run holds call_1.
    messages: list[Any] = [
        {"role": "user", "content": 'Weather? [[call:get_weather {"city": "Oslo"}]]'},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "snow"},
    ]
    final = sdk.chat.completions.create(model="haiku", messages=messages, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert not final.choices[0].message.tool_calls


def test_required_with_one_call_per_turn_then_the_result(sdk: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = sdk.chat.completions.create(
        model="haiku",
        messages=messages,
        tools=[WEATHER, CLOCK],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    # The model asked for two calls; only the first comes back, the other was answered to the
    # model as not run.
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21 C"})
    final = sdk.chat.completions.create(
        model="haiku", messages=messages, tools=[WEATHER, CLOCK], parallel_tool_calls=False
    )
    assert final.choices[0].finish_reason == "stop"
    text = final.choices[0].message.content or ""
    assert "sunny, 21 C" in text and "parallel_tool_calls is false" in text


def test_streamed_round_trip_with_tool_choice_auto(sdk: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": 'Oslo? [[call:get_weather {"city": "Oslo"}]]'}
    ]
    with sdk.chat.completions.stream(
        model="haiku", messages=messages, tools=[WEATHER], tool_choice="auto"
    ) as stream:
        first = stream.get_final_completion()
    call = (first.choices[0].message.tool_calls or [])[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True, exclude={"parsed"}))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "snow"})
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in sdk.chat.completions.create(
            model="haiku", messages=messages, tools=[WEATHER], stream=True
        )
        if chunk.choices
    ]
    assert "snow" in "".join(pieces)


def test_strict_arguments_that_fail_the_schema_are_reported(sdk: openai.OpenAI) -> None:
    strict: Any = {
        "type": "function",
        "function": {**WEATHER["function"], "strict": True},
    }
    with pytest.raises(openai.APIStatusError) as error:
        sdk.chat.completions.create(
            model="haiku",
            messages=[{"role": "user", "content": 'Rome? [[call:get_weather {"town": "Rome"}]]'}],
            tools=[strict],
        )
    body: Any = error.value.body
    assert error.value.status_code == 502 and body["code"] == "invalid_tool_arguments"
    assert "'city' is a required property" in body["message"]
