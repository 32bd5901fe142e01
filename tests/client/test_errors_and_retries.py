"""Error mapping and retry behaviour, at the transport seam (``httpx.MockTransport``).

The happy paths run against the real app in ``test_client_e2e.py``; here the server's failure
modes are replayed exactly (status, body, ``Retry-After``) to pin down what the client does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from claude_code_api.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClaudeClient,
    AuthenticationError,
    BadRequestError,
    ClaudeClient,
    ConflictError,
    GatewayTimeoutError,
    InsufficientQuotaError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)

NO_WAIT = RetryPolicy(initial_delay=0.0)
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "claude-haiku-4-5",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "cost_usd": 1e-5},
}


def error(status: int, code: str | None = None, headers: dict[str, str] | None = None,
          message: str = "nope") -> httpx.Response:  # fmt: skip
    body = {"error": {"message": message, "type": "x", "param": "messages", "code": code}}
    return httpx.Response(
        status, json=body, headers={"x-request-id": f"req_{status}", **(headers or {})}
    )


class Script:
    """A transport handler answering with the given responses in order, recording requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def sync_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> ClaudeClient:
    kw.setdefault("retry_policy", NO_WAIT)
    return ClaudeClient("http://svc", "key-1", transport=httpx.MockTransport(handler), **kw)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, ServiceUnavailableError),
        (504, GatewayTimeoutError),
    ],
)
def test_status_maps_to_error_class(status: int, cls: type[APIStatusError]) -> None:
    client = sync_client(Script(error(status, code="some_code")), max_retries=0)
    with pytest.raises(cls) as info:
        client.complete("hello")
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.request_id == f"req_{status}"
    assert exc.code == "some_code"
    assert exc.message == "nope"
    assert exc.param == "messages"
    assert f"req_{status}" in str(exc)


def test_insufficient_quota_is_a_rate_limit_error_and_is_not_retried() -> None:
    script = Script(error(429, code="insufficient_quota"))
    client = sync_client(script)
    with pytest.raises(InsufficientQuotaError) as info:
        client.complete("hello")
    assert isinstance(info.value, RateLimitError)
    assert info.value.code == "insufficient_quota"
    assert len(script.requests) == 1


def test_retries_503_honouring_retry_after_then_succeeds() -> None:
    busy = error(503, code="server_busy", headers={"Retry-After": "0"})
    script = Script(busy, busy, httpx.Response(200, json=COMPLETION))
    completion = sync_client(script, retry_policy=None).complete("hello")
    assert completion.content == "hi"
    assert len(script.requests) == 3


def test_rate_limit_exhausts_retries_and_reports_retry_after() -> None:
    script = Script(error(429, code="rate_limit_exceeded", headers={"Retry-After": "0"}))
    client = sync_client(script, max_retries=1, retry_policy=None)
    with pytest.raises(RateLimitError) as info:
        client.complete("hello")
    assert info.value.retry_after == 0.0
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    script = Script(error(status))
    with pytest.raises(APIStatusError):
        sync_client(script).complete("hello")
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [408, 409, 500, 502, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    script = Script(error(status), httpx.Response(200, json=COMPLETION))
    assert sync_client(script).complete("x").content == "hi"
    assert len(script.requests) == 2


def test_connection_errors_are_retried_then_raised() -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        sync_client(script, retry_policy=RetryPolicy(max_retries=2, initial_delay=0)).models()
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(script.requests) == 3


def test_timeout_becomes_api_timeout_error() -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        sync_client(script, retry_policy=RetryPolicy(max_retries=1, initial_delay=0)).models()
    assert len(script.requests) == 2


def test_connection_error_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=COMPLETION))
    assert sync_client(script).complete("x").content == "hi"


def test_non_json_error_body_keeps_the_text() -> None:
    script = Script(httpx.Response(502, text="Bad gateway from proxy"))
    with pytest.raises(InternalServerError) as info:
        sync_client(script, max_retries=0).complete("x")
    assert info.value.message == "Bad gateway from proxy"
    assert info.value.code is None
    assert info.value.request_id is None


def test_success_with_non_json_body_is_an_error() -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(Exception, match="not JSON"):
        sync_client(script).complete("x")


async def test_async_client_retries_and_maps_errors() -> None:
    script = Script(error(503, headers={"Retry-After": "0"}), error(401, code="invalid_api_key"))
    client = AsyncClaudeClient(
        "http://svc", "k", transport=httpx.MockTransport(script), retry_policy=NO_WAIT
    )
    async with client:
        with pytest.raises(AuthenticationError) as info:
            await client.complete("x")
    assert info.value.code == "invalid_api_key"
    assert len(script.requests) == 2


async def test_async_client_connection_error() -> None:
    script = Script(httpx.ConnectError("refused"))
    client = AsyncClaudeClient(
        "http://svc", "k", transport=httpx.MockTransport(script), retry_policy=NO_WAIT
    )
    with pytest.raises(APIConnectionError):
        await client.route("x")
    await client.close()
    assert len(script.requests) == 3


# --- RetryPolicy (pure) ---------------------------------------------------------------------
def _resp(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(503, headers=headers)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n, rand=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]


def test_backoff_jitter_shortens_by_at_most_a_quarter() -> None:
    policy = RetryPolicy()
    assert policy.delay(0, rand=lambda: 1.0) == 0.375
    assert all(0.375 <= policy.delay(0) <= 0.5 for _ in range(100))


def test_retry_after_seconds_date_and_ms() -> None:
    policy = RetryPolicy()
    assert policy.delay(0, _resp({"Retry-After": "3"})) == 3.0
    assert policy.delay(0, _resp({"retry-after-ms": "250"})) == 0.25
    in_ten = formatdate(__import__("time").time() + 10, usegmt=True)
    assert 8.0 <= policy.delay(0, _resp({"Retry-After": in_ten})) <= 10.0


def test_unusable_retry_after_falls_back_to_backoff() -> None:
    policy = RetryPolicy()
    for value in ("3600", "soon", "-1"):
        assert policy.delay(1, _resp({"Retry-After": value}), rand=lambda: 0.0) == 1.0


def test_should_retry() -> None:
    policy = RetryPolicy()
    quota = httpx.Response(429, content=json.dumps({"error": {"code": "insufficient_quota"}}))
    assert not policy.should_retry(quota)
    assert policy.should_retry(httpx.Response(429, text="slow down"))
    assert policy.should_retry(httpx.Response(500))
    assert not policy.should_retry(httpx.Response(400))
