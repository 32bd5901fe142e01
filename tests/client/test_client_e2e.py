"""The client against the real service (app + simulated CLI over a real socket): the seed's
``test_client_*`` names, plus the error classes a real server produces."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from claude_code_api import AsyncClaudeClient, ClaudeClient
from claude_code_api.app import create_app
from claude_code_api.client import (
    AuthenticationError,
    BadRequestError,
    Completion,
    InsufficientQuotaError,
    InternalServerError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Usage,
)
from claude_code_api.config import Settings

from .conftest import LiveServer


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[ClaudeClient]:
    key = server.create_key("client-app")
    with ClaudeClient(base_url=server.url, api_key=key, project_id="client-app") as client:
        yield client


def wait_for_usage(client: ClaudeClient, requests: int) -> Usage:
    """Usage rows are written by a batched recorder: poll until they have all landed."""
    deadline = time.monotonic() + 10
    while True:
        usage = client.get_usage(period="month")
        if usage.requests >= requests or time.monotonic() > deadline:
            return usage
        time.sleep(0.05)


def test_client_complete(client: ClaudeClient) -> None:
    response = client.complete("Explain async/await", model="haiku", max_tokens=200)
    assert isinstance(response, Completion)
    assert "You said: Explain async/await" in response.content
    assert "haiku" in response.model
    assert response.finish_reason == "stop"
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert response.usage.total_tokens == (
        response.usage.prompt_tokens + response.usage.completion_tokens
    )
    assert response.usage.cost_usd > 0
    assert response.request_id and response.id
    assert response.cached is False

    again = client.complete("Explain async/await", model="haiku", max_tokens=200)
    assert again.cached is True
    assert again.content == response.content
    assert again.request_id != response.request_id


def test_client_complete_auto_routes_and_system_prompt(client: ClaudeClient) -> None:
    response = client.complete("hi", model="auto", system="Answer in French.", cache=False)
    assert "haiku" in response.model  # a short, simple prompt goes to the cheapest tier
    chat = client.chat(
        [
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "What is my name?"},
        ],
        model="sonnet",
    )
    assert "sonnet" in chat.model
    assert chat.content


def test_client_stream(client: ClaudeClient) -> None:
    prompt = "Write a story about a lighthouse keeper"
    tokens = []
    with client.stream(prompt, model="haiku", cache=False) as stream:
        for token in stream:
            assert isinstance(token, str)
            tokens.append(token)
    assert len(tokens) > 1
    assert stream.finish_reason == "stop"
    assert stream.usage is not None and stream.usage.total_tokens > 0
    assert stream.request_id
    final = stream.get_final_completion()
    assert final.content == "".join(tokens)
    # The streamed text is the same answer a plain completion gives.
    assert client.complete(prompt, model="haiku", cache=False).content == final.content


def test_client_stream_simple_loop(client: ClaudeClient) -> None:
    text = "".join(client.stream("Say hello", model="haiku"))
    assert "You said: Say hello" in text


def test_client_batch(client: ClaudeClient) -> None:
    results = client.batch(
        ["Task 1", "Task 2", {"model": "sonnet", "prompt": "Task 3"}], model="haiku", parallel=True
    )
    assert len(results) == 3
    assert [r.index for r in results] == [0, 1, 2]
    assert all(r.ok and r.error is None for r in results)
    assert "You said: Task 1" in (results[0].content or "")
    assert "You said: Task 2" in (results[1].content or "")
    third = results[2].completion
    assert third is not None and "sonnet" in third.model
    assert results.succeeded == 3 and results.failed == 0
    assert results.total_tokens == sum(
        r.completion.usage.total_tokens for r in results if r.completion
    )
    assert results.total_cost > 0


def test_client_batch_item_failure_is_isolated(client: ClaudeClient) -> None:
    results = client.batch(["fine", {"model": "haiku"}], parallel=False)
    assert results[0].ok
    assert not results[1].ok
    assert results[1].error is not None and results[1].error.message
    assert results[1].content is None
    assert (results.succeeded, results.failed) == (1, 1)


def test_client_usage(server: LiveServer) -> None:
    key = server.create_key("usage-app")
    with ClaudeClient(server.url, key) as client:
        first = client.complete("count me", model="haiku", cache=False)
        second = client.complete("count me too", model="sonnet", cache=False)
        usage = wait_for_usage(client, requests=2)
    assert usage.project_id == "usage-app"
    assert usage.period == "month"
    assert usage.requests == 2
    assert usage.total_tokens == first.usage.total_tokens + second.usage.total_tokens
    assert usage.total_cost == pytest.approx(first.usage.cost_usd + second.usage.cost_usd)
    assert sum(m.tokens for m in usage.by_model.values()) == usage.total_tokens
    assert sum(m.requests for m in usage.by_model.values()) == 2
    assert len(usage.by_model) == 2


def test_client_route_and_models(client: ClaudeClient) -> None:
    decision = client.route("Fix this typo", context_size=0)
    assert decision.recommended_model == "haiku"
    assert decision.reasoning
    assert set(decision.estimated_cost) >= {"haiku", "sonnet", "opus"}
    big = client.route("Summarise the attached codebase", context_size=50_000)
    assert big.recommended_model in ("haiku", "sonnet")  # the learned default never picks opus
    assert big.probability is not None and 0 <= big.probability <= 1
    ids = {m.id for m in client.models()}
    assert {"auto", "haiku", "sonnet", "opus"} <= ids


async def test_async_client(server: LiveServer) -> None:
    key = server.create_key("async-app")
    async with AsyncClaudeClient(server.url, key, "async-app") as client:
        one, two = await asyncio.gather(
            client.complete("async one", model="haiku", cache=False),
            client.complete("async two", model="haiku", cache=False),
        )
        assert "You said: async one" in one.content
        assert "You said: async two" in two.content
        tokens = [t async for t in client.stream("async story", model="haiku")]
        assert "You said: async story" in "".join(tokens)
        async with client.stream("async story two", model="haiku") as stream:
            final = await stream.get_final_completion()
        assert final.usage.total_tokens > 0 and final.finish_reason == "stop"
        batch = await client.batch(["a1", "a2"], model="haiku")
        assert batch.succeeded == 2
        chat = await client.chat([{"role": "user", "content": "async chat"}], model="haiku")
        assert "async chat" in chat.content
        assert (await client.route("hello")).recommended_model
        assert await client.models()
        deadline = time.monotonic() + 10
        usage = await client.get_usage("month")
        while usage.requests < 7 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            usage = await client.get_usage("month")
        assert usage.requests == 7
        with pytest.raises(PermissionDeniedError):
            await client.get_usage(project_id="someone-else")


# --- errors from the real server ---------------------------------------------------------------
def test_bad_key_is_authentication_error(server: LiveServer) -> None:
    client = ClaudeClient(server.url, "ccapi_not_a_key", max_retries=0)
    with client, pytest.raises(AuthenticationError) as info:
        client.complete("hi")
    assert info.value.status_code == 401
    assert info.value.request_id
    assert info.value.code


def test_other_project_is_permission_denied(client: ClaudeClient) -> None:
    with pytest.raises(PermissionDeniedError) as info:
        client.complete("hi", project_id="not-mine")
    assert info.value.status_code == 403


def test_invalid_request_is_bad_request(client: ClaudeClient) -> None:
    with pytest.raises(BadRequestError) as info:
        client.chat([{"role": "wizard", "content": "x"}])
    assert info.value.status_code == 400
    assert info.value.param


def test_spent_budget_is_insufficient_quota(server: LiveServer) -> None:
    key = server.create_key("broke-app")
    response = server.admin("PUT", "/admin/projects/broke-app/budget", json={"monthly_limit": 0})
    assert response.status_code == 200, response.text
    with ClaudeClient(server.url, key) as client, pytest.raises(InsufficientQuotaError) as info:
        client.complete("anything")
    assert info.value.code == "insufficient_quota"
    assert info.value.status_code == 429


def test_rate_limit_error_carries_retry_after(server: LiveServer) -> None:
    key = server.create_key("slow-app", rate_limit=1)
    with ClaudeClient(server.url, key, max_retries=0) as client:
        client.models()  # /v1/models needs no key and so costs nothing
        client.route("first")
        with pytest.raises(RateLimitError) as info:
            client.route("second")
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    assert not isinstance(info.value, InsufficientQuotaError)


def test_cli_failures_are_server_errors(client: ClaudeClient) -> None:
    with ClaudeClient(str(client.base_url), client.api_key, max_retries=0) as no_retry:
        with pytest.raises(ServiceUnavailableError):
            no_retry.complete("[[sim:error=overloaded]] x", model="haiku")
        with pytest.raises(InternalServerError) as info:
            no_retry.complete("[[sim:exit=3]] boom", model="haiku")
        assert info.value.status_code == 502
        assert "sk-" not in info.value.message
        with pytest.raises(InternalServerError):
            "".join(no_retry.stream("[[sim:exit=3]] boom", model="haiku"))


async def test_async_client_in_process_over_asgi(tmp_path: Path) -> None:
    """The recipe of docs/CLIENT.md: the app in-process, no socket, via httpx.ASGITransport."""
    settings = Settings(
        demo=True,
        database_url=f"sqlite:///{tmp_path / 'asgi.db'}",
        admin_key="admin",
        workdir_root=tmp_path,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            created = await http.post(
                "/admin/keys", json={"project_id": "t"}, headers={"Authorization": "Bearer admin"}
            )
        async with AsyncClaudeClient(
            "http://test", created.json()["key"], transport=transport
        ) as c:
            completion = await c.complete("hello in process", model="haiku")
    assert "You said: hello in process" in completion.content
