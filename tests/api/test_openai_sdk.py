"""The official ``openai`` SDK, unchanged, against a running server on the simulated CLI."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.api.conftest import ServerThread, admin_create_key_sync


@pytest.fixture
def sdk_key(live_server: ServerThread) -> str:
    return admin_create_key_sync(live_server.url, "sdk-project")


def test_openai_sync_client(live_server: ServerThread, sdk_key: str) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0)
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


def test_openai_streaming(live_server: ServerThread, sdk_key: str) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0)
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
        client = openai.AsyncOpenAI(
            base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0
        )
        results = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="haiku", messages=[{"role": "user", "content": f"async {i}"}]
                )
                for i in range(5)
            )
        )
        await client.close()
        return [r.choices[0].message.content or "" for r in results]

    texts = asyncio.run(main())
    assert len(texts) == 5 and all(texts)


def test_openai_models_list_and_errors(live_server: ServerThread, sdk_key: str) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=sdk_key, max_retries=0)
    ids = {m.id for m in client.models.list()}
    assert {"auto", "haiku", "sonnet", "opus"} <= ids
    bad = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="haiku", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="haiku", messages=[])
