"""A spent budget is final (issue 11, item 9): the SDKs must not send it again.

``429 insufficient_quota`` carries ``x-should-retry: false``; the openai and anthropic SDKs
(default ``max_retries=2``) then make exactly one request.
"""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from tests.api.conftest import ServerThread, admin_create_key_sync, admin_headers


@pytest.fixture
def spent_key(live_server: ServerThread) -> str:
    key = admin_create_key_sync(live_server.url, "spent")
    response = httpx.put(
        f"{live_server.url}/admin/projects/spent/budget",
        json={"monthly_limit": 1},
        headers=admin_headers(),
    )
    assert response.status_code == 200, response.text
    return key


def _counting_client() -> tuple[httpx.Client, list[str]]:
    seen: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]})
    return client, seen


def test_openai_sdk_does_not_retry_insufficient_quota(
    live_server: ServerThread, spent_key: str
) -> None:
    http, seen = _counting_client()
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=spent_key, http_client=http)
    with client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="haiku", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.code == "insufficient_quota"
    assert len(seen) == 1


def test_anthropic_sdk_does_not_retry_insufficient_quota(
    live_server: ServerThread, spent_key: str
) -> None:
    seen: list[str] = []
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [lambda r: seen.append("x")]})
    client = anthropic.Anthropic(base_url=live_server.url, api_key=spent_key, http_client=http)
    with client, pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model="haiku", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(seen) == 1
