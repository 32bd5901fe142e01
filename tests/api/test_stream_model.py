"""Streamed chunks name the model that answers (the CLI's full id) from the first chunk on."""

from __future__ import annotations

import copy
import json
import pickle

import httpx
import openai
import pytest

from claude_code_api.domain import TextDelta
from claude_code_api.workers.simulated_cli import ALIAS_IDS
from tests.api.conftest import ServerThread, admin_create_key_sync, chat_body


@pytest.fixture
def key(live_server: ServerThread) -> str:
    return admin_create_key_sync(live_server.url, "stream-model")


def _sse_models(url: str, key: str, path: str, body: dict[str, object]) -> list[str]:
    models = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", url + path, json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "model" in event:  # chat.completion.chunk
                models.append(event["model"])
            elif event.get("type") == "message_start":  # Anthropic's stream
                models.append(event["message"]["model"])
    return models


@pytest.mark.parametrize("cache", [False, True], ids=["fresh", "cache-hit"])
def test_every_raw_sse_chunk_names_the_resolved_model(
    live_server: ServerThread, key: str, cache: bool
) -> None:
    body = chat_body(
        "which model?", stream=True, cache=cache, stream_options={"include_usage": True}
    )
    if cache:
        _sse_models(live_server.url, key, "/v1/chat/completions", body)  # fills the cache
    models = _sse_models(live_server.url, key, "/v1/chat/completions", body)
    assert len(models) > 3
    assert set(models) == {ALIAS_IDS["haiku"]}


def test_openai_sdk_stream_chunks_name_the_resolved_model(
    live_server: ServerThread, key: str
) -> None:
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "stream it"}], stream=True
        )
        assert {chunk.model for chunk in stream} == {ALIAS_IDS["sonnet"]}


def test_anthropic_message_start_names_the_resolved_model(
    live_server: ServerThread, key: str
) -> None:
    body = {"model": "opus", "max_tokens": 50, "stream": True}
    body["messages"] = [{"role": "user", "content": "hi"}]
    assert _sse_models(live_server.url, key, "/v1/messages", body) == [ALIAS_IDS["opus"]]


def test_a_text_delta_is_a_str_that_survives_copies() -> None:
    delta = TextDelta("Hi", model="claude-x")
    assert delta == "Hi" and isinstance(delta, str)
    for clone in (copy.deepcopy(delta), pickle.loads(pickle.dumps(delta))):
        assert isinstance(clone, TextDelta) and clone.model == "claude-x" and clone == "Hi"
