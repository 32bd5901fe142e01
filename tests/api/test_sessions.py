"""Multi-turn conversations reach the model as real turns (a CLI session rebuilt from the
request's messages and resumed), on every surface, on the simulated CLI.

``sim_calls`` shows what reached "the model": the simulated CLI loads the session file like
the real one (``--resume``) and logs the messages of each call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from claude_code_api.app import create_app
from claude_code_api.application.conversation import build_conversation
from claude_code_api.domain import Message, ToolCall
from claude_code_api.workers.session_file import sessions_dir
from tests.api.conftest import bearer, create_key, make_settings, running_app
from tests.api.tool_defs import WEATHER_BARE

Calls = Callable[[], list[dict[str, Any]]]


def user(text: str) -> dict[str, Any]:
    """A user turn as the model gets it from a resumed session (or as the new prompt)."""
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def assistant(text: str) -> dict[str, Any]:
    """An assistant turn as the model gets it from a resumed session."""
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def prompt(text: str) -> dict[str, Any]:
    """The new user message (stdin) as the simulated CLI logs it."""
    return {"role": "user", "content": text}


async def chat(
    client: httpx.AsyncClient, key: str, messages: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "haiku", "messages": messages, "cache": False, **extra},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def leftover_sessions(work: Path) -> list[Path]:
    """Session directories the runs of tasks under ``work`` left in the CLI's config dir."""
    marker = sessions_dir({}, work).name
    projects = sessions_dir({}, work).parent
    return [p for p in projects.glob(f"{marker}*")] if projects.exists() else []


async def test_ten_turns_reach_the_model_as_real_turns(
    client: httpx.AsyncClient, sim_calls: Calls, tmp_path: Path
) -> None:
    key = await create_key(client, "sessions")
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    expected: list[dict[str, Any]] = []
    for n in range(1, 11):
        messages.append({"role": "user", "content": f"Question {n}"})
        body = await chat(client, key, messages)
        answer = body["choices"][0]["message"]["content"]
        if n > 1:
            # Only the new question went on stdin; the earlier turns came from the session.
            assert f"You said: Question {n} ." in answer
            assert answer.endswith(f"Resumed: {2 * (n - 1)} earlier messages.")
            call = sim_calls()[-1]
            assert call["messages"] == [*expected, prompt(f"Question {n}")]
            assert call["system"] == "Be brief."
        messages.append({"role": "assistant", "content": answer})
        expected += [user(f"Question {n}"), assistant(answer)]
    # Each turn was its own task: nothing of the conversation is left behind.
    assert leftover_sessions(tmp_path / "work") == []


async def test_regenerate_and_edit_send_exactly_the_clients_history(
    client: httpx.AsyncClient, sim_calls: Calls
) -> None:
    key = await create_key(client, "regen")
    conversation = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "I live in Paris."},
        {"role": "assistant", "content": "Paris is lovely."},
        {"role": "user", "content": "Where do I live?"},
    ]
    await chat(client, key, conversation)
    # Regenerate: the same history again (the client dropped the answer it got).
    await chat(client, key, conversation)
    # Edit: an earlier turn changed, the later ones dropped.
    edited = [*conversation[:2], {"role": "user", "content": "I live in Rome."}]
    await chat(client, key, edited)
    first, regenerated, edit = (c["messages"] for c in sim_calls()[-3:])
    history = [user("My name is Ada."), assistant("Hello Ada.")]
    assert (
        first
        == regenerated
        == [
            *history,
            user("I live in Paris."),
            assistant("Paris is lovely."),
            prompt("Where do I live?"),
        ]
    )
    assert edit == [*history, prompt("I live in Rome.")]


async def test_anthropic_messages_continue_as_real_turns(
    client: httpx.AsyncClient, sim_calls: Calls
) -> None:
    key = await create_key(client, "anthropic")
    response = await client.post(
        "/v1/messages",
        json={
            "model": "haiku",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Hi, I am Ada."},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello Ada."}]},
                {"role": "user", "content": [{"type": "text", "text": "Who am I?"}]},
            ],
        },
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200, response.text
    assert sim_calls()[-1]["messages"] == [
        user("Hi, I am Ada."),
        assistant("Hello Ada."),
        prompt("Who am I?"),
    ]


TOOLS = [WEATHER_BARE]
CALL = {
    "id": "call 1",  # not a valid tool_use id upstream: replaced, consistently
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call 1", "content": "sunny"},
    {"role": "assistant", "content": "It is sunny."},
    {"role": "user", "content": "Thanks!"},
]


async def test_tool_turns_are_real_tool_use_and_tool_result_turns(
    client: httpx.AsyncClient, sim_calls: Calls
) -> None:
    key = await create_key(client, "tools")
    await chat(client, key, TOOL_CONVERSATION, tools=TOOLS)
    messages = sim_calls()[-1]["messages"]
    tool_use = messages[1]["content"][0]
    assert tool_use["type"] == "tool_use" and tool_use["name"] == "mcp__t__get_weather"
    assert tool_use["input"] == {"city": "Paris"}
    assert re.fullmatch(r"toolu_[0-9a-f]{24}", tool_use["id"])
    assert messages[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": tool_use["id"],
                "content": [{"type": "text", "text": "sunny"}],
            }
        ],
    }
    assert messages[3:] == [assistant("It is sunny."), prompt("Thanks!")]


async def test_tool_turns_without_tools_offered_are_text_in_real_turns(
    client: httpx.AsyncClient, sim_calls: Calls
) -> None:
    key = await create_key(client, "no-tools")
    await chat(client, key, TOOL_CONVERSATION)
    messages = sim_calls()[-1]["messages"]
    # No tools offered: the tool turns are text inside real turns (see conversation.py).
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    calls_text = messages[1]["content"][0]["text"]
    assert calls_text.startswith("<tool_calls>") and '"get_weather"' in calls_text
    assert messages[2]["content"][0]["text"].startswith("<tool_results>")
    assert "sunny" in messages[2]["content"][0]["text"]
    assert all(b["type"] == "text" for m in messages[:-1] for b in m["content"])


async def test_projects_never_reach_each_others_conversations(
    tmp_path: Path, sim_calls: Calls
) -> None:
    """The state of a conversation is the request itself: concurrent continuations of
    projects whose ids contain separators each reach the model with their own turns only, and
    another project's stored response cannot be continued."""
    settings = make_settings(tmp_path)
    projects = ["acme:a", "acme", "acme:a:b", "a:cme"]
    async with running_app(settings) as (_app, client):
        keys = [await create_key(client, p) for p in projects]

        async def converse(index: int) -> None:
            secret = f"secret-of-{index}"
            messages = [
                {"role": "user", "content": secret},
                {"role": "assistant", "content": f"noted {secret}"},
                {"role": "user", "content": f"what is my secret, {index}?"},
            ]
            await chat(client, keys[index], messages)

        await asyncio.gather(*(converse(i) for i in range(len(projects))))
        for call in sim_calls():
            index = int(call["messages"][-1]["content"].rsplit(" ", 1)[1].rstrip("?"))
            assert call["messages"][:2] == [
                user(f"secret-of-{index}"),
                assistant(f"noted secret-of-{index}"),
            ]
        assert len(sim_calls()) == len(projects)
        # The Responses API's stored conversations are scoped the same way.
        stored = await client.post(
            "/v1/responses",
            json={"model": "haiku", "input": "remember 7"},
            headers=bearer(keys[0]),
        )
        rid = stored.json()["id"]
        for other in keys[1:]:
            response = await client.post(
                "/v1/responses",
                json={"model": "haiku", "input": "which?", "previous_response_id": rid},
                headers=bearer(other),
            )
            assert response.status_code == 404
    assert leftover_sessions(tmp_path / "work") == []


async def test_a_warm_server_runs_continuations_cold(tmp_path: Path, sim_calls: Calls) -> None:
    """Warm processes take single turns; a continuation needs its session loaded at start,
    so it runs cold (with ``--resume``) even when warm processes are on."""
    settings = make_settings(tmp_path, warm_workers=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            key = await create_key(client, "warm")
            await chat(client, key, [{"role": "user", "content": "one"}])
            messages = [
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "first"},
                {"role": "user", "content": "two"},
            ]
            body = await chat(client, key, messages)
            metrics = (await client.get("/metrics")).text
    assert body["choices"][0]["message"]["content"].endswith("Resumed: 2 earlier messages.")
    assert sim_calls()[-1]["messages"] == [user("one"), assistant("first"), prompt("two")]
    assert re.search(r"ccapi_warm_cold_runs_total 1\.0", metrics)


def test_dropped_turns_leave_no_orphan_tool_result() -> None:
    """When the oldest turns are dropped for the context window, results whose calls were
    dropped go too: the history starts with a user or assistant turn."""
    messages = [
        Message.of("user", "x" * 400),
        Message("assistant", (), tool_calls=(ToolCall("c1", "f", {}),)),
        Message("tool", ("r" * 40,), tool_call_id="c1"),
        Message.of("assistant", "after the tool"),
        Message.of("user", "short"),
        Message.of("assistant", "ok"),
        Message.of("user", "last"),
    ]
    conversation = build_conversation(
        messages, context_window=60, reserve_output=10, estimate=lambda text: len(text) // 4
    )
    assert conversation.dropped_turns == 2
    assert [m.role for m in conversation.history] == ["assistant", "user", "assistant"]
    assert conversation.history[0].text() == "after the tool"
    assert conversation.last == "last"
    # Everything else: consecutive user messages at the end become one new message.
    tail = build_conversation(
        [*messages[-3:-1], Message.of("user", "one"), Message.of("user", "two")],
        context_window=10_000,
        reserve_output=10,
        estimate=len,
    )
    assert tail.last == "one\n\ntwo" and [m.role for m in tail.history] == ["user", "assistant"]


async def test_resume_sessions_off_sends_the_flattened_transcript(
    tmp_path: Path, sim_calls: Calls
) -> None:
    """``CCAPI_RESUME_SESSIONS=false``: earlier turns reach the model inside one transcript
    message (no session file, no real turns), as the operator chose."""
    settings = make_settings(tmp_path, resume_sessions=False)
    async with running_app(settings) as (_app, client):
        key = await create_key(client, "flat")
        messages = [
            {"role": "user", "content": "Question 1"},
            {"role": "assistant", "content": "Answer 1"},
            {"role": "user", "content": "Question 2"},
        ]
        answer = (await chat(client, key, messages))["choices"][0]["message"]["content"]
    assert "Resumed:" not in answer
    (call,) = [c for c in sim_calls() if len(c["messages"]) == 1]
    text = call["messages"][0]["content"]
    assert "Answer 1" in text and "Question 1" in text and "Question 2" in text
    assert not leftover_sessions(tmp_path)
