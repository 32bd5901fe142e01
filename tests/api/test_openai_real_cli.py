"""The official ``openai`` SDK against the service running the REAL ``claude`` binary, which
talks to a fake Anthropic upstream on 127.0.0.1 (no network, no credentials)."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import openai
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import PNG_1X1, ServerThread, admin_create_key_sync, make_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic, Reply

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

pytestmark = pytest.mark.real_cli


def test_openai_sdk_with_the_real_claude_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            completion = client.chat.completions.create(
                model="haiku",
                messages=[
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Say hello to the real binary"},
                ],
                max_tokens=200,
            )
            assert completion.choices[0].message.content
            assert completion.usage is not None and completion.usage.completion_tokens > 0
            pieces = [
                chunk.choices[0].delta.content or ""
                for chunk in client.chat.completions.create(
                    model="sonnet",
                    messages=[{"role": "user", "content": "Now stream it"}],
                    stream=True,
                )
                if chunk.choices
            ]
            assert "".join(pieces)
    sent = fake_upstream.messages
    assert len(sent) >= 2
    # Chat mode: our system prompt, no tool schemas, the request's max_tokens upstream.
    first = sent[0]
    assert "You are terse." in first.system_text
    assert not first.tools
    assert first.body["max_tokens"] == 200


def test_response_format_and_stop_with_the_real_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    fenced = '```json\n{"city": "Paris", "country": "France"}\n```'
    fake_upstream.responder = lambda body: Reply(text=fenced, cache_read_tokens=321)
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            completion = client.chat.completions.create(
                model="haiku",
                messages=[{"role": "user", "content": "Capital of France, as JSON"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "place", "schema": schema},
                },
            )
            # Anthropic's prompt-cache reads appear as OpenAI's cached prompt tokens.
            assert completion.usage is not None and completion.usage.prompt_tokens_details
            assert completion.usage.prompt_tokens_details.cached_tokens == 321
            # The fence the model put around its JSON is gone: the content parses as is.
            assert json.loads(completion.choices[0].message.content or "") == {
                "city": "Paris",
                "country": "France",
            }
            fake_upstream.responder = lambda body: Reply(text="one two three STOP four five")
            cut = client.chat.completions.create(
                model="haiku",
                messages=[{"role": "user", "content": "Count"}],
                stop=["STOP", "never"],
            )
            assert cut.choices[0].message.content == "one two three "
            assert cut.choices[0].finish_reason == "stop"
    # The schema went upstream in the system prompt.
    asked = fake_upstream.messages[0].system_text
    assert "valid against this JSON Schema" in asked and '"required":["city","country"]' in asked


def test_images_reach_the_upstream_through_the_real_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    png = PNG_1X1
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            reply = client.chat.completions.create(
                model="haiku",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Compare these two pictures"},
                            {
                                "type": "image_url",
                                "image_url": {"url": f"data:image/png;base64,{png}"},
                            },
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://example.com/b.jpg"},
                            },
                        ],
                    }
                ],
            )
            assert reply.choices[0].message.content
    content = fake_upstream.messages[-1].body["messages"][-1]["content"]
    blocks = [b for b in content if b.get("type") == "image"]
    assert [b["source"] for b in blocks] == [
        {"type": "base64", "media_type": "image/png", "data": png},
        {"type": "url", "url": "https://example.com/b.jpg"},
    ]
    texts = " ".join(b.get("text", "") for b in content if b.get("type") == "text")
    assert "Compare these two pictures[image][image]" in texts


def test_anthropic_sdk_with_the_real_claude_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    fake_upstream.responder = lambda body: Reply(text="Bonjour!")
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real")
        with anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0) as client:
            message = client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=300,
                system=[{"type": "text", "text": "Answer in French."}],
                messages=[{"role": "user", "content": "Say hello"}],
            )
            assert message.content[0].text == "Bonjour!"  # type: ignore[union-attr]
            assert message.stop_reason == "end_turn"
            assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = fake_upstream.messages[-1]
    assert "Answer in French." in sent.system_text
    assert sent.body["max_tokens"] == 300
    assert "Say hello" in str(sent.body["messages"])


def _user_texts(body: dict[str, object]) -> str:
    """All text of the user messages of an upstream request, joined."""
    parts: list[str] = []
    for message in body.get("messages") or []:  # type: ignore[attr-defined]
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(b.get("text", "") for b in content if isinstance(b, dict))
    return "\n".join(parts)


def test_responses_api_with_previous_response_id_on_the_real_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    answers = iter(["Nice to meet you, Ada.", "Your name is Ada.", "Ada, streamed."])
    fake_upstream.responder = lambda body: Reply(text=next(answers))
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "real:responses")
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
            first = client.responses.create(model="haiku", input="My name is Ada.")
            assert first.output_text == "Nice to meet you, Ada."
            assert first.usage is not None and first.usage.output_tokens > 0
            second = client.responses.create(
                model="haiku", input="What is my name?", previous_response_id=first.id
            )
            assert second.output_text == "Your name is Ada."
            with client.responses.stream(
                model="haiku", input="Once more, streamed.", previous_response_id=second.id
            ) as stream:
                deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
                final = stream.get_final_response()
            assert "".join(deltas) == final.output_text == "Ada, streamed."
            assert client.responses.retrieve(final.id).output_text == "Ada, streamed."
    sent = fake_upstream.messages
    assert len(sent) == 3
    # The continued turns reached the model as real turns: the stored user and assistant
    # messages, then the new input (a session rebuilt from the stored conversation).
    assert [m["role"] for m in sent[2].body["messages"]] == ["user", "assistant"] * 2 + ["user"]
    answers = [m["content"][-1]["text"] for m in sent[2].body["messages"][1::2]]
    assert answers == ["Nice to meet you, Ada.", "Your name is Ada."]
    assert "My name is Ada." in _user_texts({"messages": sent[1].body["messages"][:1]})
    assert sent[2].body["messages"][-1]["content"][-1]["text"] == "Once more, streamed."


def test_thinking_only_when_asked_with_the_real_binary(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "thinking")
        with (
            openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as oai,
            anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0) as ant,
        ):
            hi = [{"role": "user", "content": "hi"}]
            oai.chat.completions.create(model="sonnet", messages=hi, extra_body={"cache": False})
            plain = fake_upstream.messages[-1].body
            oai.chat.completions.create(
                model="sonnet", messages=hi, reasoning_effort="low", extra_body={"cache": False}
            )
            low = fake_upstream.messages[-1].body
            ant.messages.create(
                model="haiku",
                max_tokens=4096,
                messages=[{"role": "user", "content": "hi"}],
                thinking={"type": "enabled", "budget_tokens": 2048},
                extra_body={"cache": False},
            )
            budget = fake_upstream.messages[-1].body
            with pytest.raises(anthropic.BadRequestError, match="less than max_tokens"):
                ant.messages.create(
                    model="haiku",
                    max_tokens=1024,
                    messages=[{"role": "user", "content": "hi"}],
                    thinking={"type": "enabled", "budget_tokens": 2048},
                )
    assert plain["thinking"] == {"type": "disabled"}  # the CLI would think at effort high
    assert low["thinking"] == {"type": "adaptive"} and low["output_config"]["effort"] == "low"
    assert budget["thinking"] == {"type": "enabled", "budget_tokens": 2048}
