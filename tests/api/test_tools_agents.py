"""Agent frameworks' own loops against the service: LangChain's ``create_agent`` and the OpenAI
Agents SDK (its ``OpenAIChatCompletionsModel`` on /v1/chat/completions and its default
``OpenAIResponsesModel`` on /v1/responses), each running two tool steps before its final
answer, on the simulated CLI and the REAL binary.

The fakes call the tools the prompt's markers name (``[[call:...]]`` in step 1, ``[[call2:...]]``
in step 2, see ``tests/fakes/upstream.py``) and answer "Tool results: ..." once the second
round of results is in, so what the tools returned is what the final answer shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, cli_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

PROMPT = (
    'Weather in Rome and the time in UTC, then Oslo? [[call:get_weather {"city": "Rome"}]] '
    '[[call:get_time {"tz": "UTC"}]] [[call2:get_weather {"city": "Oslo"}]]'
)
ran: list[str] = []  # the tool calls the frameworks made, in order


def weather(city: str) -> str:
    """Current weather for a city."""
    ran.append(f"weather:{city}")
    return f"{city}: sunny"


def clock(tz: str) -> str:
    """Current time in a time zone."""
    ran.append(f"time:{tz}")
    return f"{tz}: 14:05"


def ran_in_steps() -> list[list[str]]:
    """The tool calls run, per step (a framework may run one step's calls concurrently)."""
    return [sorted(ran[:2]), ran[2:]]


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_cli)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL of the OpenAI API, key) of a live server on the simulated or the real CLI."""
    ran.clear()
    with ServerThread(create_app(cli_settings(request, tmp_path))) as server:
        yield f"{server.url}/v1", admin_create_key_sync(server.url, "agents")


@pytest.mark.parametrize("stream", [False, True])
def test_langchain_create_agent_runs_two_tool_steps(service: tuple[str, str], stream: bool) -> None:
    base_url, key = service
    with httpx.Client() as http:  # not langchain_openai's process-wide cached client
        llm = ChatOpenAI(
            model="haiku",
            base_url=base_url,
            api_key=key,
            max_retries=0,
            timeout=90,
            http_client=http,
        )
        _run_langchain_agent(llm, stream)


def _run_langchain_agent(llm: ChatOpenAI, stream: bool) -> None:
    get_weather = tool("get_weather")(weather)
    get_time = tool("get_time")(clock)
    agent = create_agent(llm, [get_weather, get_time], system_prompt="Use the tools.")
    ask = {"messages": [{"role": "user", "content": PROMPT}]}
    if stream:  # "messages" mode streams the model's answers (token chunks) through LangGraph
        state: Any = None
        pieces: list[AIMessageChunk] = []
        for mode, data in agent.stream(ask, stream_mode=["messages", "values"]):
            if mode == "values":
                state = data
            elif isinstance(data[0], AIMessageChunk):
                pieces.append(data[0])
        # The calls arrived as streamed fragments (delta.tool_calls), joined by LangChain.
        assert sum(1 for p in pieces if p.tool_call_chunks) > 3
    else:
        state = agent.invoke(ask)
    messages = state["messages"]
    asked = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [[c["name"] for c in m.tool_calls] for m in asked] == [
        ["get_weather", "get_time"],
        ["get_weather"],
    ]
    assert ran_in_steps() == [["time:UTC", "weather:Rome"], ["weather:Oslo"]]
    assert [m.content for m in messages if isinstance(m, ToolMessage)] == [
        "Rome: sunny",
        "UTC: 14:05",
        "Oslo: sunny",
    ]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.content == "Tool results: Oslo: sunny"


def weather_agent(model: Any) -> Agent[Any]:
    """The Agents SDK agent both model kinds run: the weather and clock tools, in parallel."""
    return Agent(
        name="assistant",
        instructions="Use the tools.",
        model=model,
        model_settings=ModelSettings(parallel_tool_calls=True),
        tools=[
            function_tool(weather, name_override="get_weather"),
            function_tool(clock, name_override="get_time"),
        ],
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_agents_sdk_runs_two_tool_steps(
    service: tuple[str, str], stream: bool
) -> None:
    set_tracing_disabled(True)  # the SDK would otherwise export traces to api.openai.com
    base_url, key = service
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key=key, max_retries=0, timeout=90
    ) as client:
        agent = weather_agent(OpenAIChatCompletionsModel(model="haiku", openai_client=client))
        if stream:
            streamed = Runner.run_streamed(agent, PROMPT, max_turns=5)
            async for _ in streamed.stream_events():
                pass
            final, items = streamed.final_output, streamed.new_items
        else:
            result = await Runner.run(agent, PROMPT, max_turns=5)
            final, items = result.final_output, result.new_items
        assert ran_in_steps() == [["time:UTC", "weather:Rome"], ["weather:Oslo"]]
        calls = [i.raw_item for i in items if i.type == "tool_call_item"]
        assert [getattr(c, "name", None) for c in calls] == [
            "get_weather",
            "get_time",
            "get_weather",
        ]
        outputs = [i.output for i in items if i.type == "tool_call_output_item"]
        assert outputs == ["Rome: sunny", "UTC: 14:05", "Oslo: sunny"]
        assert final == "Tool results: Oslo: sunny"


@pytest.mark.parametrize(
    ("stream", "chained"), [(False, False), (True, False), (False, True), (True, True)]
)
async def test_openai_agents_sdk_responses_model_runs_two_tool_steps(
    service: tuple[str, str], stream: bool, chained: bool
) -> None:
    # The SDK's default model: the Responses API. By default the whole conversation is sent
    # back each step (function_call and function_call_output items); chained, only the new
    # items with previous_response_id (the stored conversation holds the rest).
    set_tracing_disabled(True)
    base_url, key = service
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key=key, max_retries=0, timeout=90
    ) as client:
        agent = weather_agent(OpenAIResponsesModel(model="haiku", openai_client=client))
        run: Any
        if stream:
            run = Runner.run_streamed(agent, PROMPT, max_turns=5, auto_previous_response_id=chained)
            async for _ in run.stream_events():
                pass
        else:
            run = await Runner.run(agent, PROMPT, max_turns=5, auto_previous_response_id=chained)
        final, items = run.final_output, run.new_items
        last = await client.responses.retrieve(run.last_response_id)
        assert (last.previous_response_id is not None) is chained  # the third of a chain
        assert ran_in_steps() == [["time:UTC", "weather:Rome"], ["weather:Oslo"]]
        calls = [i.raw_item for i in items if i.type == "tool_call_item"]
        assert [getattr(c, "name", None) for c in calls] == [
            "get_weather",
            "get_time",
            "get_weather",
        ]
        assert all(getattr(c, "call_id", "").startswith("call_") for c in calls)
        outputs = [i.output for i in items if i.type == "tool_call_output_item"]
        assert outputs == ["Rome: sunny", "UTC: 14:05", "Oslo: sunny"]
        assert final == "Tool results: Oslo: sunny"
