"""What the client sends (URL, headers, body) and how it reads SSE edge cases the real server
rarely produces (truncated streams, mid-stream errors, comments), at the transport seam."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from claude_code_api.client import (
    APIConnectionError,
    APIStreamError,
    APITimeoutError,
    AsyncClaudeClient,
    ClaudeClient,
    RetryPolicy,
)
from claude_code_api.client._streaming import SSEDecoder

from .test_errors_and_retries import COMPLETION


class Recorder:
    """Answers every request with ``response`` and keeps the requests."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response

    @property
    def body(self) -> Any:
        return json.loads(self.requests[-1].content)


def test_headers_body_and_url() -> None:
    rec = Recorder(httpx.Response(200, json=COMPLETION, headers={"x-request-id": "req_9"}))
    client = ClaudeClient(
        "http://svc:8080/prefix", "sk-1", "my-app", transport=httpx.MockTransport(rec)
    )
    completion = client.complete("Explain", model="haiku", max_tokens=50, system="Be terse")
    request = rec.requests[0]
    assert str(request.url) == "http://svc:8080/prefix/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-1"
    assert request.headers["user-agent"].startswith("claude-code-api-client/")
    assert rec.body == {
        "model": "haiku",
        "messages": [
            {"role": "system", "content": "Be terse"},
            {"role": "user", "content": "Explain"},
        ],
        "max_tokens": 50,
        "project_id": "my-app",
    }
    assert completion.request_id == "req_9"
    assert completion.usage.total_tokens == 4
    assert str(completion) == "hi"
    assert "sk-1" not in repr(client)


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAPI_API_KEY", "env-key")
    monkeypatch.setenv("CCAPI_BASE_URL", "http://env-host:9000")
    monkeypatch.setenv("CCAPI_PROJECT_ID", "env-proj")
    rec = Recorder(httpx.Response(200, json={"project_id": "env-proj", "period": "week"}))
    with ClaudeClient(transport=httpx.MockTransport(rec)) as client:
        usage = client.get_usage("week")
    request = rec.requests[0]
    assert request.url.host == "env-host"
    assert request.url.params["project_id"] == "env-proj"
    assert request.url.params["period"] == "week"
    assert request.headers["authorization"] == "Bearer env-key"
    assert usage.period == "week"


def test_no_key_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCAPI_API_KEY", raising=False)
    rec = Recorder(httpx.Response(200, json={"object": "list", "data": [{"id": "haiku"}]}))
    models = ClaudeClient("http://svc", transport=httpx.MockTransport(rec)).models()
    assert "authorization" not in rec.requests[0].headers
    assert [m.id for m in models] == ["haiku"]


def test_batch_body_fills_defaults_per_item() -> None:
    rec = Recorder(httpx.Response(200, json={"results": [], "total_tokens": 0, "total_cost": 0}))
    client = ClaudeClient("http://svc", "k", transport=httpx.MockTransport(rec))
    client.batch(
        ["a", {"prompt": "b", "model": "opus"}, {"messages": [{"role": "user", "content": "c"}]}],
        model="haiku", parallel=False, max_tokens=9, system="S",
    )  # fmt: skip
    assert rec.body == {
        "requests": [
            {"prompt": "a", "model": "haiku", "max_tokens": 9, "system": "S"},
            {"prompt": "b", "model": "opus", "max_tokens": 9, "system": "S"},
            {"messages": [{"role": "user", "content": "c"}], "model": "haiku", "max_tokens": 9},
        ],
        "parallel": False,
    }


def test_chat_cache_off_and_extra_body() -> None:
    rec = Recorder(httpx.Response(200, json=COMPLETION, headers={"x-ccapi-cache": "hit"}))
    client = ClaudeClient("http://svc", "k", transport=httpx.MockTransport(rec))
    completion = client.chat(
        [{"role": "user", "content": "x"}], cache=False, temperature=0.2,
        extra_body={"user": "u1"},
    )  # fmt: skip
    assert rec.body["cache"] is False
    assert rec.body["temperature"] == 0.2
    assert rec.body["user"] == "u1"
    assert completion.cached is True


# --- streams ----------------------------------------------------------------------------------
def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
            "choices": [choice], **extra}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n"


def sse_response(*events: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        content="".join(events).encode(),
        headers={"content-type": "text/event-stream", "x-request-id": "req_s", **(headers or {})},
    )


def stream_client(response: httpx.Response, **kw: Any) -> ClaudeClient:
    return ClaudeClient("http://svc", "k", transport=httpx.MockTransport(lambda r: response), **kw)


def test_stream_reads_comments_multiline_and_usage() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3,
             "total_tokens": 5, "cost_usd": 0.5, "cached": True}}  # fmt: skip
    response = sse_response(
        ": keep-alive\n\n",
        chunk("Hel"),
        'data: {"choices": [{"delta": {"content": "lo"},\ndata: "finish_reason": null}]}\n\n',
        chunk(finish="stop"),
        f"data: {json.dumps({'id': 'c1', **usage})}\n\n",
        "data: [DONE]\n\n",
    )
    with stream_client(response).stream("hi") as stream:
        tokens = list(stream)
        assert stream.request_id == "req_s"
    assert tokens == ["Hel", "lo"]
    final = stream.get_final_completion()
    assert final.content == "Hello"
    assert final.finish_reason == "stop"
    assert final.usage.total_tokens == 5
    assert final.cached is True
    assert final.id == "c1"
    assert final.created == 5


def test_stream_error_event_raises() -> None:
    err = {"error": {"message": "CLI timed out", "type": "timeout", "code": "timeout"}}
    response = sse_response(chunk("partial"), f"data: {json.dumps(err)}\n\n", "data: [DONE]\n\n")
    stream = stream_client(response).stream("hi")
    assert next(stream) == "partial"
    with pytest.raises(APIStreamError) as info:
        next(stream)
    assert info.value.code == "timeout"
    assert info.value.request_id == "req_s"


def test_truncated_stream_raises_connection_error() -> None:
    stream = stream_client(sse_response(chunk("a"), chunk("b"))).stream("hi")
    with pytest.raises(APIConnectionError, match="ended before"):
        list(stream)
    assert stream.text == "ab"


def test_stream_without_done_but_finished_is_fine() -> None:
    # The last event lacks its blank line; it still counts.
    response = sse_response(chunk("a"), chunk(finish="length").rstrip("\n"))
    completion = stream_client(response).stream("hi").get_final_completion()
    assert completion.content == "a"
    assert completion.finish_reason == "length"


def test_stream_request_errors_are_retried_before_the_stream_starts() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                503, json={"error": {"code": "busy"}}, headers={"Retry-After": "0"}
            )
        assert json.loads(request.content)["stream_options"] == {"include_usage": True}
        assert request.headers["accept"] == "text/event-stream"
        return sse_response(chunk("ok"), chunk(finish="stop"), "data: [DONE]\n\n")

    client = ClaudeClient("http://svc", "k", transport=httpx.MockTransport(handler))
    assert "".join(client.stream("x")) == "ok"
    assert len(calls) == 2


def test_read_timeout_mid_stream_becomes_api_timeout() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield chunk("a").encode()
            raise httpx.ReadTimeout("stalled")

    response = httpx.Response(200, stream=Broken(), headers={"content-type": "text/event-stream"})
    stream = stream_client(response, retry_policy=RetryPolicy(max_retries=0)).stream("x")
    with pytest.raises(APITimeoutError):
        list(stream)


async def test_async_stream_and_close() -> None:
    response = sse_response(chunk("a"), chunk("b"), chunk(finish="stop"), "data: [DONE]\n\n")
    client = AsyncClaudeClient("http://svc", "k", transport=httpx.MockTransport(lambda r: response))
    async with client.stream([{"role": "user", "content": "x"}]) as stream:
        first = await anext(stream)
        await stream.close()
    assert first == "a"
    assert stream.request_id == "req_s"


def test_sse_decoder_fields() -> None:
    decoder = SSEDecoder()
    lines = ["event: error", "id: 7", "data: a", "data:b", "retry: 10", ""]
    events = [e for e in map(decoder.decode, lines) if e is not None]
    assert len(events) == 1
    assert (events[0].event, events[0].id, events[0].data) == ("error", "7", "a\nb")
    assert decoder.decode("") is None
