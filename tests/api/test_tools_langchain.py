"""LangChain's ``ChatOpenAI.bind_tools`` against the service: an agent loop of two tool steps,
plain and streamed, on the simulated CLI and the REAL binary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, cli_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}: sunny"


@tool
def get_time(tz: str) -> str:
    """Current time in a time zone."""
    return f"{tz}: 14:05"


TOOLS = {"get_weather": get_weather, "get_time": get_time}


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_cli)])
def llm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChatOpenAI]:
    with (
        ServerThread(create_app(cli_settings(request, tmp_path))) as server,
        httpx.Client() as http,  # not langchain_openai's process-wide cached client
    ):
        key = admin_create_key_sync(server.url, "langchain")
        yield ChatOpenAI(
            model="haiku",
            base_url=f"{server.url}/v1",
            api_key=key,
            max_retries=0,
            timeout=90,
            http_client=http,
        )


def run_agent(llm: ChatOpenAI, prompt: str, *, stream: bool) -> tuple[list[BaseMessage], int]:
    """A minimal tool loop: call the model, run the tools it asks for, repeat."""
    model = llm.bind_tools(list(TOOLS.values()))
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    steps = 0
    while True:
        if stream:
            chunks = list(model.stream(messages))
            reply: Any = chunks[0]
            for chunk in chunks[1:]:
                reply = reply + chunk
            reply = AIMessage(content=reply.content, tool_calls=reply.tool_calls)
        else:
            reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages, steps
        steps += 1
        for call in reply.tool_calls:
            output = TOOLS[call["name"]].invoke(call["args"])
            messages.append(ToolMessage(output, tool_call_id=call["id"]))


@pytest.mark.parametrize("stream", [False, True])
def test_bind_tools_agent_loop_of_two_steps(llm: ChatOpenAI, stream: bool) -> None:
    prompt = (
        'Weather in Rome and the time in UTC? [[call:get_weather {"city": "Rome"}]] '
        '[[call:get_time {"tz": "UTC"}]] [[call2:get_weather {"city": "Oslo"}]]'
    )
    messages, steps = run_agent(llm, prompt, stream=stream)
    assert steps == 2
    first = messages[1]
    assert isinstance(first, AIMessage)
    assert [c["name"] for c in first.tool_calls] == ["get_weather", "get_time"]
    assert first.tool_calls[0]["args"] == {"city": "Rome"}
    assert messages[-1].content == "Tool results: Oslo: sunny"
