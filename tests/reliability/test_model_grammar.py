"""Model names by a strict grammar (issue 11, items 5 and 6).

The tier of a Claude id is read from its structure, so a haiku-capped key cannot smuggle a
bigger model past its cap, and no malformed name reaches ``--model`` or a response header.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from claude_code_api.errors import InvalidRequestError, NotFoundError
from claude_code_api.validation import parse_model
from tests.api.conftest import admin_headers, bearer, chat_body, make_settings, running_app


async def post_json(client: httpx.AsyncClient, path: str, body: object, key: str) -> httpx.Response:
    """POST ``body`` as ASCII JSON: lone surrogates travel as ``\\udxxx`` escapes."""
    headers = {**bearer(key), "Content-Type": "application/json"}
    return await client.post(path, content=json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("auto", None),
        ("Haiku", "haiku"),
        ("claude-haiku-4-5", "haiku"),
        ("claude-haiku-4-5-20251001", "haiku"),
        ("claude-sonnet-5", "sonnet"),
        ("claude-opus-4-1-20250805", "opus"),
        ("claude-3-5-haiku-20241022", "haiku"),
        ("claude-3-opus-latest", "opus"),
        ("claude-opus-4-1@20250805", "opus"),
    ],
)
def test_claude_ids_parse_to_their_tier(name: str, tier: str | None) -> None:
    assert parse_model(name).tier == tier


@pytest.mark.parametrize(
    "name",
    ["claude-opus-4-1-haiku", "claude-haiku-opus-4-1", "claude-haiku", "gpt-4o", "claude-"],
)
def test_names_that_only_contain_a_tier_are_not_models(name: str) -> None:
    with pytest.raises(NotFoundError):
        parse_model(name)


@pytest.mark.parametrize(
    "name",
    ["claude-haiku\x00x", "claude-haiku\ud800", "claude-haiku\n--tools Bash", "m" * 300_000, ""],
)
def test_malformed_names_are_a_400_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_model(name)
    assert caught.value.param == "model"


async def test_a_haiku_capped_key_cannot_reach_a_bigger_model(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_app, client):
        created = await client.post(
            "/admin/keys", json={"project_id": "capped", "max_tier": "haiku"},
            headers=admin_headers(),
        )  # fmt: skip
        key = created.json()["key"]

        async def status(model: str) -> int:
            body = chat_body("hi")
            body["model"] = model
            response = await client.post("/v1/chat/completions", json=body, headers=bearer(key))
            return response.status_code

        assert await status("claude-haiku-4-5") == 200
        assert await status("claude-opus-4-1") == 403
        assert await status("claude-opus-4-1-haiku") == 404
        assert await status("claude-haiku-opus-4-1") == 404


@pytest.mark.parametrize(
    "model",
    ["claude-haiku\u0000x", "claude-haiku\ud800", "claude-haiku\n--tools Bash", "m" * 300_000],
)
async def test_a_malformed_model_is_a_400_on_every_surface_and_never_runs(
    tmp_path: Path, model: str
) -> None:
    async with running_app(make_settings(tmp_path)) as (_app, client):
        created = await client.post(
            "/admin/keys", json={"project_id": "bad-model"}, headers=admin_headers()
        )
        key = created.json()["key"]
        chat = chat_body("hi")
        chat["model"] = model
        anthropic = {
            "model": model,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        }
        for path, body in (
            ("/v1/chat/completions", chat),
            ("/v1/messages", anthropic),
        ):
            response = await post_json(client, path, body, key)
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error.get("param", "model") == "model" or "model" in error["message"]
        batch = await post_json(
            client, "/v1/batch", {"requests": [{"model": model, "prompt": "hi"}]}, key
        )
        assert batch.status_code == 200
        assert batch.json()["results"][0]["error"]["param"] == "model"
        usage = await client.get("/v1/usage", headers=bearer(key))
        assert usage.json()["total_tokens"] == 0  # nothing ran, nothing was charged
