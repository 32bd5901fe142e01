"""Multi-turn conversations on the REAL ``claude`` binary: earlier turns arrive upstream as
real messages (a session file rebuilt from the request, ``--resume``), with the same blocks as
the request before, so the previous cache breakpoint's prefix can be read back."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import openai
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, make_settings
from tests.api.tool_defs import WEATHER_BARE
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic, Reply

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

pytestmark = pytest.mark.real_cli


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upstream messages without cache breakpoints (they move forward on every request)."""
    out = copy.deepcopy(messages)
    for message in out:
        if isinstance(message["content"], list):
            for block in message["content"]:
                block.pop("cache_control", None)
    return out


def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each upstream message, without the CLI's ``<system-reminder>`` block."""
    turns = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = "".join(
            b.get("text", "")
            for b in blocks
            if b.get("type") == "text" and not b.get("text", "").startswith("<system-reminder>")
        )
        turns.append((message["role"], text))
    return turns


def test_ten_turns_arrive_as_real_turns_with_a_stable_prefix(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    replies = iter(f"Answer number {n}." for n in range(1, 20))
    fake_upstream.responder = lambda body: Reply(text=next(replies))
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:sessions")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            history: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
            for n in range(1, 11):
                history.append({"role": "user", "content": f"Question number {n}?"})
                completion = client.chat.completions.create(
                    model="haiku", messages=history, extra_body={"cache": False}
                )  # type: ignore[arg-type]
                answer = completion.choices[0].message.content
                assert answer == f"Answer number {n}."
                history.append({"role": "assistant", "content": answer})
    sent = [m.body for m in fake_upstream.messages]
    assert len(sent) == 10
    for n, body in enumerate(sent, start=1):
        expected: list[tuple[str, str]] = []
        for k in range(1, n):
            expected += [("user", f"Question number {k}?"), ("assistant", f"Answer number {k}.")]
        expected.append(("user", f"Question number {n}?"))
        assert _turns(body)[-len(expected) :] == expected
        if n > 1:  # resumed: exactly the real turns, nothing rendered into one text
            assert _turns(body) == expected
    # From the second turn on (the first ran on a warm process, whose request carries the
    # /clear caveat), each request starts with exactly the previous request's system blocks
    # (billing header included) and messages: the previous breakpoint's prefix is a cache read.
    for before, after in itertools.pairwise(sent[1:]):
        assert after["system"] == before["system"]
        assert after["tools"] == before["tools"]
        assert _plain(after["messages"][: len(before["messages"])]) == _plain(before["messages"])
        last = after["messages"][-1]["content"][-1]
        assert last["cache_control"] == {"type": "ephemeral"}  # the breakpoint moved forward


def test_regenerate_and_edit_send_exactly_the_clients_history(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    fake_upstream.responder = lambda body: Reply(text="fresh answer")
    settings = make_settings(
        tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60, warm_workers=False
    )
    conversation = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "I live in Paris."},
        {"role": "assistant", "content": "Paris is lovely."},
        {"role": "user", "content": "Where do I live?"},
    ]
    edited = [*conversation[:2], {"role": "user", "content": "I live in Rome."}]
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:regen")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            for messages in (conversation, edited):
                client.chat.completions.create(
                    model="haiku", messages=messages, extra_body={"cache": False}
                )  # type: ignore[arg-type]
    regenerate, edit = (m.body for m in fake_upstream.messages)
    # Regenerate (the last answer dropped, asked again): the history as sent, nothing more.
    assert _turns(regenerate) == [(m["role"], m["content"]) for m in conversation]
    # Edit (an earlier turn changed, later ones dropped): the edited turn, no trace of Paris.
    assert _turns(edit) == [(m["role"], m["content"]) for m in edited]
    assert "Paris" not in str(edit["messages"])
    # Nothing of either conversation is left in the CLI's sessions directory.
    projects = Path(real_cli_env["HOME"]) / ".claude" / "projects"
    assert list(projects.glob("*ccapi-task*")) == []


def test_a_cold_first_turn_is_the_prefix_of_the_second(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    """Without warm processes the first turn is a plain cold ``claude -p``: the rebuilt session
    of the second turn reproduces its request exactly (system blocks with the billing header,
    the ``<system-reminder>`` block, the first question), so even turn 1's breakpoint is read."""
    fake_upstream.responder = lambda body: Reply(text="Hello Ada.")
    settings = make_settings(
        tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60, warm_workers=False
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
    ]
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:cold")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            for follow_up in ("What is my name?", None):
                answer = client.chat.completions.create(
                    model="haiku", messages=messages, extra_body={"cache": False}
                )  # type: ignore[arg-type]
                if follow_up:
                    messages += [
                        {"role": "assistant", "content": answer.choices[0].message.content},
                        {"role": "user", "content": follow_up},
                    ]
    first, second = (m.body for m in fake_upstream.messages)
    assert second["system"] == first["system"]
    assert second["system"][0]["text"].startswith("x-anthropic-billing-header: cc_version=")
    assert _plain(second["messages"][:1]) == _plain(first["messages"])
    assert len(second["messages"]) == 3


def test_tool_turns_arrive_as_tool_use_and_tool_result(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    fake_upstream.responder = lambda body: Reply(text="You are welcome.")
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    tools = [WEATHER_BARE]
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thanks!"},
    ]
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:tools")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            completion = client.chat.completions.create(
                model="haiku", messages=messages, tools=tools, extra_body={"cache": False}
            )  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "You are welcome."
    body = fake_upstream.messages[-1].body
    assert [t["name"] for t in body["tools"]] == ["mcp__t__get_weather"]
    got = _plain(body["messages"])
    assert got[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "call_1",
                "name": "mcp__t__get_weather",
                "input": {"city": "Paris"},
            },
        ],
    }
    assert got[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": [{"type": "text", "text": "sunny"}],
            }
        ],
    }
    assert _turns(body)[3:] == [("assistant", "It is sunny."), ("user", "Thanks!")]


def test_a_rebuilt_tool_round_has_the_blocks_of_the_live_one(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    """A tool round run live (the CLI parked on the call, resumed with the client's result),
    then a follow-up question: the rebuilt session sends the live requests' messages again,
    block for block, so the follow-up reads the whole tool round from the cache."""
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    tools = [WEATHER_BARE]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": 'Weather? [[call:get_weather {"city": "Paris"}]]'}
    ]
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:toolround")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:

            def ask() -> Any:
                return (
                    client.chat.completions.create(
                        model="haiku", messages=messages, tools=tools, extra_body={"cache": False}
                    )
                    .choices[0]
                    .message
                )  # type: ignore[arg-type]

            call = ask()
            assert call.tool_calls
            messages += [
                call.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": "sunny"},
            ]
            messages += [{"role": "assistant", "content": ask().content}]
            messages += [{"role": "user", "content": "Thanks!"}]
            ask()
    live, follow_up = fake_upstream.messages[-2].body, fake_upstream.messages[-1].body
    assert len(follow_up["messages"]) == len(live["messages"]) + 2
    assert follow_up["system"] == live["system"] and follow_up["tools"] == live["tools"]
    assert _plain(follow_up["messages"][: len(live["messages"])]) == _plain(live["messages"])
