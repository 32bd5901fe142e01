"""The official ``openai`` SDK, unchanged, against a running server on the simulated CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from tests.api.conftest import PNG_1X1, ServerThread, admin_create_key_sync


@pytest.fixture
def sdk_key(live_server: ServerThread) -> str:
    return admin_create_key_sync(live_server.url, "sdk-project")


@pytest.fixture
def client(live_server: ServerThread, sdk_key: str) -> Iterator[openai.OpenAI]:
    """The sync SDK client on the live server, closed (its connections too) after the test."""
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0) as client:
        yield client


def test_openai_sync_client(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="haiku",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello from the openai SDK"},
        ],
        max_tokens=50,
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert "haiku" in completion.model
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ccapi-routed"] == "haiku"


def test_openai_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "Stream a few words"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces)
    assert usage is not None and usage.completion_tokens > 0


def test_openai_async_client(live_server: ServerThread, sdk_key: str) -> None:
    async def main() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0
        ) as client:
            results = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="haiku", messages=[{"role": "user", "content": f"async {i}"}]
                    )
                    for i in range(5)
                )
            )
        return [r.choices[0].message.content or "" for r in results]

    texts = asyncio.run(main())
    assert len(texts) == 5 and all(texts)


def test_openai_models_list_and_errors(live_server: ServerThread, client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"auto", "haiku", "sonnet", "opus"} <= ids
    bad = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="haiku", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="haiku", messages=[])


def test_openai_stop_sequences_cut_streamed_and_plain_answers(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Tell me something"}]
    fresh = {"cache": False}  # every call runs the CLI: a stream of word-sized deltas
    full = client.chat.completions.create(model="haiku", messages=messages, extra_body=fresh)
    text = full.choices[0].message.content or ""
    assert "This is a deterministic reply" in text
    expected = text[: text.index("a deterministic")]
    # A stop sequence spanning two streamed deltas ("a " + "deterministic ").
    chunks = list(
        client.chat.completions.create(
            model="haiku",
            messages=messages,
            stop=["a deterministic", "absent"],
            stream=True,
            extra_body=fresh,
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == expected
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    plain = client.chat.completions.create(
        model="haiku", messages=messages, stop="a deterministic", extra_body=fresh
    )
    assert plain.choices[0].message.content == expected
    assert plain.choices[0].finish_reason == "stop"
    # No stop sequence in the answer: nothing is cut, the stream's held-back tail arrives.
    whole = client.chat.completions.create(
        model="haiku", messages=messages, stop=["never said"], stream=True, extra_body=fresh
    )
    assert "".join(c.choices[0].delta.content or "" for c in whole if c.choices) == text


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 stop sequences"),
        ({"stop": [""]}, "must not be empty"),
        ({"response_format": {"type": "json_schema"}}, "needs a json_schema"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
    ],
)
def test_openai_bad_output_controls_are_400(
    client: openai.OpenAI, extra: dict[str, object], fragment: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="haiku",
            messages=[{"role": "user", "content": "x"}],
            extra_body=extra,
        )
    assert fragment in str(info.value)


def test_openai_models_retrieve(client: openai.OpenAI) -> None:
    for name in ("auto", "haiku", "claude-sonnet-4-5"):
        assert client.models.retrieve(name).id == name
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-4o")
    assert info.value.code == "model_not_found"


def test_openai_vision_message_reaches_the_cli(client: openai.OpenAI) -> None:
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}},
    ]
    reply = client.chat.completions.create(
        model="haiku", messages=[{"role": "user", "content": parts}]
    )
    # The simulated CLI names each image block it received in its answer.
    assert "[image image/png 70 bytes]" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
