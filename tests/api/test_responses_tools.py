"""Function tools on the Responses API through the official ``openai`` SDK, on the simulated CLI
and the REAL binary.

The fakes call the tools the prompt's markers name (``[[call:NAME {args}]]``, see
``tests/fakes/upstream.py``), so the same requests run on both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, cli_settings, make_settings
from tests.api.tool_defs import ASK
from tests.api.tool_defs import CLOCK_RESPONSES as CLOCK
from tests.api.tool_defs import WEATHER_RESPONSES as WEATHER
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic, Reply, default_responder

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_cli)])
def sdk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[openai.OpenAI]:
    """An openai client on a live server running the simulated or the real CLI."""
    with ServerThread(create_app(cli_settings(request, tmp_path))) as server:
        key = admin_create_key_sync(server.url, "resp:tools")
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=90
        ) as client:
            yield client


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[openai.OpenAI]:
    """An openai client on a live server running the simulated CLI."""
    with ServerThread(create_app(make_settings(tmp_path))) as server:
        key = admin_create_key_sync(server.url, "resp:tools")
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=90
        ) as client:
            yield client


def _calls(response: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]


def _results(text: str) -> list[str]:
    """The results a fake's "Tool results: r1 | r2" answer names (the real CLI may run the
    calls in any order)."""
    assert text.startswith("Tool results: "), text
    return sorted(text.removeprefix("Tool results: ").split(" | "))


def _outputs(response: Any, *results: str) -> list[Any]:
    calls = [item for item in response.output if item.type == "function_call"]
    assert len(calls) == len(results)
    return [
        {"type": "function_call_output", "call_id": c.call_id, "output": r}
        for c, r in zip(calls, results, strict=True)
    ]


def test_parallel_calls_then_outputs_via_previous_response_id(
    sdk: openai.OpenAI, request: pytest.FixtureRequest
) -> None:
    first = sdk.responses.create(model="haiku", input=ASK, tools=[WEATHER, CLOCK])
    assert first.status == "completed"
    assert _calls(first) == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    # Only calls: no message item, and the SDK's output_text is empty.
    assert [item.type for item in first.output] == ["function_call", "function_call"]
    assert first.output_text == ""
    for item in first.output:
        assert item.type == "function_call"
        assert item.id is not None and item.id.startswith("fc_")
        assert item.call_id.startswith("call_") and item.status == "completed"
    assert [t.name for t in first.tools] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert first.tool_choice == "auto" and first.parallel_tool_calls is True
    assert first.usage is not None and first.usage.output_tokens > 0
    # The stored response holds the calls.
    stored = sdk.responses.retrieve(first.id)
    assert stored.model_dump()["output"] == first.model_dump()["output"]
    final = sdk.responses.create(
        model="haiku",
        previous_response_id=first.id,
        input=_outputs(first, "sunny, 21 C", "14:05"),
        tools=[WEATHER, CLOCK],
    )
    assert final.status == "completed" and not _calls(final)
    # Real tool_result blocks reached the model in the suspended run (a rebuilt conversation
    # would carry the round as rendered text, which neither fake answers this way).
    assert _results(final.output_text) == ["14:05", "sunny, 21 C"]
    # A plain follow-up continues the conversation, the tool round as real turns.
    after = sdk.responses.create(
        model="haiku", previous_response_id=final.id, input="Thanks!", tools=[WEATHER, CLOCK]
    )
    assert after.status == "completed" and after.output_text
    if request.node.callspec.params["sdk"] == "sim":
        # user, assistant (the calls), user (the results), assistant (the answer)
        assert after.output_text.endswith("Resumed: 4 earlier messages.")
    else:
        upstream: FakeAnthropic = request.getfixturevalue("fake_upstream")
        last = [r for r in upstream.requests if r.path.startswith("/v1/messages")][-1]
        kinds = [
            block.get("type")
            for message in last.body["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
        ]
        assert kinds.count("tool_use") == 2 and kinds.count("tool_result") == 2


def test_streamed_calls_then_streamed_answer(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="haiku", input=ASK, tools=[WEATHER, CLOCK]) as stream:
        events = list(stream)
        first = stream.get_final_response()
    kinds = [e.type for e in events]
    call_events = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    compact = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert compact == ["response.created", "response.in_progress", *call_events * 2,
                       "response.completed"]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [(e.output_index, e.item.type, getattr(e.item, "arguments", None)) for e in added] == [
        (0, "function_call", ""),
        (1, "function_call", ""),
    ]
    deltas = "".join(
        e.delta
        for e in events
        if e.type == "response.function_call_arguments.delta" and e.output_index == 0
    )
    assert json.loads(deltas) == {"city": "Paris"}
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [(e.name, json.loads(e.arguments)) for e in done] == _calls(first)
    assert _calls(first) == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert first.output_text == ""
    stored = sdk.responses.retrieve(first.id)
    assert [i.model_dump() for i in stored.output] == [
        i.model_dump(exclude={"parsed_arguments"}) for i in first.output
    ]
    streamed = sdk.responses.create(
        model="haiku",
        previous_response_id=first.id,
        input=_outputs(first, "sunny, 21 C", "14:05"),
        tools=[WEATHER, CLOCK],
        stream=True,
    )
    text = ""
    completed: Any = None
    for event in streamed:
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.completed":
            completed = event.response
    assert completed is not None and completed.output_text == text
    assert _results(text) == ["14:05", "sunny, 21 C"]


def test_client_kept_state_and_a_rebuilt_conversation(
    sdk: openai.OpenAI, request: pytest.FixtureRequest
) -> None:
    # The client sends the whole conversation back (store off, no previous_response_id), as
    # the openai Agents SDK does: the model's items as they came, then the outputs.
    ask: Any = {"role": "user", "content": 'Oslo? [[call:get_weather {"city": "Oslo"}]]'}
    first = sdk.responses.create(model="haiku", input=[ask], tools=[WEATHER], store=False)
    echoed = [item.model_dump(exclude_none=True) for item in first.output]
    final = sdk.responses.create(
        model="haiku",
        input=[ask, *echoed, *_outputs(first, "snow")],
        tools=[WEATHER],
        store=False,
    )
    assert final.output_text == "Tool results: snow" and not _calls(final)
    # A history from elsewhere (another replica, a restart): no run holds these calls.
    made_up: Any = [
        ask,
        {"type": "function_call", "call_id": "call_elsewhere", "name": "get_weather",
         "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_elsewhere",
         "output": [{"type": "input_text", "text": "hail"}]},
    ]  # fmt: skip
    rebuilt = sdk.responses.create(model="haiku", input=made_up, tools=[WEATHER])
    assert rebuilt.status == "completed" and not _calls(rebuilt)
    if request.node.callspec.params["sdk"] == "sim":  # it echoes the prompt's words
        # The tool round reached the CLI rendered in the rebuilt conversation.
        assert '"toolu_elsewhere" name="get_weather">hail</result>' in rebuilt.output_text


def test_tool_choice_none_named_and_required_one_per_turn(sim: openai.OpenAI) -> None:
    plain = sim.responses.create(
        model="haiku", input=ASK, tools=[WEATHER, CLOCK], tool_choice="none"
    )
    assert not _calls(plain) and plain.output_text and plain.tool_choice == "none"
    named = sim.responses.create(
        model="haiku",
        input=ASK,
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert [name for name, _ in _calls(named)] == ["get_time"]
    assert named.tool_choice.type == "function"  # type: ignore[union-attr]
    one = sim.responses.create(
        model="haiku",
        input=ASK,
        tools=[WEATHER, CLOCK],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert _calls(one) == [("get_weather", {"city": "Paris"})]
    assert one.parallel_tool_calls is False
    final = sim.responses.create(
        model="haiku",
        previous_response_id=one.id,
        input=_outputs(one, "sunny, 21 C"),
        tools=[WEATHER, CLOCK],
        parallel_tool_calls=False,
    )
    assert "sunny, 21 C" in final.output_text
    assert "parallel_tool_calls is false" in final.output_text


def test_strict_arguments_that_fail_the_schema_are_reported(sim: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        sim.responses.create(
            model="haiku",
            input='Rome? [[call:get_weather {"town": "Rome"}]]',
            tools=[{**WEATHER, "strict": True}],
        )
    body: Any = error.value.body
    assert error.value.status_code == 502 and body["code"] == "invalid_tool_arguments"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [WEATHER, {"type": "web_search"}]}, "tools[1].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
        ({"tools": [{"type": "mcp", "server_label": "x"}]}, "tools[0].type"),
        ({"tools": ["get_weather"]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": "f", "parameters": {"type": 3}}]},
         "tools[0].parameters"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": [CLOCK] * 129}, "tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"input": [{"role": "user", "content": "hi"},
                    {"type": "function_call_output", "call_id": "call_nope", "output": "x"}]},
         "input[1].call_id"),
        ({"input": [{"type": "function_call", "call_id": "c1", "name": "get_weather",
                     "arguments": 3}]}, "input[0].arguments"),
        ({"input": [{"type": "function_call", "name": "get_weather", "arguments": "{}"}]},
         "input[0].call_id"),
        ({"input": [{"type": "function_call", "call_id": "c1", "name": "get_weather"},
                    {"type": "function_call_output", "call_id": "c1", "output": 3}]},
         "input[1].output"),
        ({"input": [{"type": "function_call", "call_id": "c1", "name": "get_weather"},
                    {"type": "function_call_output", "call_id": "c1",
                     "output": [{"type": "input_image", "image_url": "x"}]}]},
         "input[1].output[0].type"),
    ],
)  # fmt: skip
def test_bad_tool_requests_are_400s_naming_the_item(
    sim: openai.OpenAI, extra: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {"model": "haiku", "input": "hi", **extra}
    with pytest.raises(openai.BadRequestError) as error:
        sim.responses.create(**body)
    got: Any = error.value.body
    assert got["param"] == param, got
    assert got["type"] == "invalid_request_error"


def test_an_output_for_a_call_of_another_response_is_400(sim: openai.OpenAI) -> None:
    first = sim.responses.create(model="haiku", input=ASK, tools=[WEATHER, CLOCK])
    other = sim.responses.create(model="haiku", input="no tools here")
    with pytest.raises(openai.BadRequestError) as error:
        sim.responses.create(
            model="haiku",
            previous_response_id=other.id,
            input=_outputs(first, "sunny", "14:05"),
            tools=[WEATHER, CLOCK],
        )
    assert error.value.body["param"] == "input[0].call_id"  # type: ignore[index]


@pytest.mark.real_cli
@pytest.mark.parametrize("stream", [False, True])
def test_text_before_the_calls_on_the_real_binary(
    tmp_path: Path,
    real_cli_env: dict[str, str],
    claude_bin: str,
    fake_upstream: FakeAnthropic,
    stream: bool,
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        reply = default_responder(body)
        if reply.tool_calls:  # the model writes a sentence, then calls
            reply.preamble = "Let me look that up."
        return reply

    fake_upstream.responder = responder
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "resp:tools")
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=90
        ) as sdk:
            ask = 'Oslo? [[call:get_weather {"city": "Oslo"}]]'
            if stream:
                with sdk.responses.stream(model="haiku", input=ask, tools=[WEATHER]) as events:
                    kinds = [(e.type, getattr(e, "output_index", None)) for e in events]
                    first = events.get_final_response()
                compact = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
                assert compact == [
                    ("response.created", None),
                    ("response.in_progress", None),
                    ("response.output_item.added", 0),
                    ("response.content_part.added", 0),
                    ("response.output_text.delta", 0),
                    ("response.output_text.done", 0),
                    ("response.content_part.done", 0),
                    ("response.output_item.done", 0),
                    ("response.output_item.added", 1),
                    ("response.function_call_arguments.delta", 1),
                    ("response.function_call_arguments.done", 1),
                    ("response.output_item.done", 1),
                    ("response.completed", None),
                ]
            else:
                first = sdk.responses.create(model="haiku", input=ask, tools=[WEATHER])
            assert [item.type for item in first.output] == ["message", "function_call"]
            assert first.output_text == "Let me look that up."
            assert _calls(first) == [("get_weather", {"city": "Oslo"})]
            stored = sdk.responses.retrieve(first.id)
            assert [i.type for i in stored.output] == ["message", "function_call"]
            final = sdk.responses.create(
                model="haiku",
                previous_response_id=first.id,
                input=_outputs(first, "snow"),
                tools=[WEATHER],
            )
            assert final.output_text == "Tool results: snow"


def test_calls_echoed_with_previous_response_id_are_not_doubled(
    sim_calls: Callable[[], list[dict[str, Any]]], sim: openai.OpenAI
) -> None:
    first = sim.responses.create(model="haiku", input=ASK, tools=[WEATHER, CLOCK])
    echoed = [item.model_dump(exclude_none=True) for item in first.output]
    final = sim.responses.create(
        model="haiku",
        previous_response_id=first.id,
        input=[*echoed, *_outputs(first, "sunny, 21 C", "14:05")],
        tools=[WEATHER, CLOCK],
    )
    assert _results(final.output_text) == ["14:05", "sunny, 21 C"]
    # A later turn rebuilds the conversation from the stored one: each call appears once.
    sim.responses.create(
        model="haiku", previous_response_id=final.id, input="More?", tools=[WEATHER, CLOCK]
    )
    uses = [
        block["id"]
        for message in sim_calls()[-1]["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    ]
    calls = [item for item in first.output if item.type == "function_call"]
    assert sorted(uses) == sorted("toolu_" + c.call_id.removeprefix("call_") for c in calls)
