"""OpenAI-style server-sent events and client-disconnect handling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import Request

from claude_code_api.api.errors import openai_body
from claude_code_api.api.schemas import usage_payload
from claude_code_api.application.output_format import StopScanner
from claude_code_api.domain import CompletionResult, model_of
from claude_code_api.errors import CCAPIError

T = TypeVar("T")


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it (and so killing its worker) if the client disconnects.

    Starlette does not cancel a plain endpoint when the client goes away; without this a
    disconnected request would keep a CLI process busy until it finished.
    """
    task: asyncio.Future[T] = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                task.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    finally:
        watcher.cancel()


def sse(data: dict[str, Any] | str) -> bytes:
    """One ``data:`` event."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _chunk(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


#: Argument fragments per streamed tool call (the openai SDK and LangChain join them).
ARGUMENT_FRAGMENTS = 4


def tool_call_deltas(result: CompletionResult) -> list[dict[str, Any]]:
    """``delta.tool_calls`` chunks: per call, id, type and name first (arguments ""), then
    the arguments JSON in fragments, each chunk naming the call by its ``index``."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(result.tool_calls):
        head = {"name": call.name, "arguments": ""}
        first = {"index": index, "id": call.id, "type": "function", "function": head}
        deltas.append({"tool_calls": [first]})
        raw = json.dumps(call.arguments)
        size = max(1, -(-len(raw) // ARGUMENT_FRAGMENTS))
        for start in range(0, len(raw), size):
            piece = {"index": index, "function": {"arguments": raw[start : start + size]}}
            deltas.append({"tool_calls": [piece]})
    return deltas


async def openai_sse(
    items: AsyncGenerator[str | CompletionResult, None],
    first: str | CompletionResult,
    *,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    stops: list[str] | None = None,
) -> AsyncIterator[bytes]:
    """Render pipeline items as ``chat.completion.chunk`` events ending in ``[DONE]``.

    A failure after the stream started is sent as an ``error`` event (the OpenAI SDK raises it
    as an ``APIError``), then ``[DONE]``. With ``stops``, text ends before the first stop
    sequence; the rest of the answer is still read (for its usage) but not sent.
    """
    scanner = StopScanner(stops) if stops else None
    model = model_of(first, model)  # the CLI's resolved model, not the alias asked for
    yield sse(_chunk(completion_id, created, model, {"role": "assistant", "content": ""}, None))
    final: CompletionResult | None = None
    try:
        item: str | CompletionResult | None = first
        while item is not None:
            if isinstance(item, CompletionResult):
                final = item
            elif item:
                text = scanner.feed(item) if scanner else item
                if text:
                    yield sse(_chunk(completion_id, created, model, {"content": text}, None))
            item = await anext(items, None)
    except CCAPIError as exc:
        yield sse(openai_body(exc))
        yield sse("[DONE]")
        return
    finally:
        await items.aclose()
    assert final is not None
    used = final.model or model
    finish = final.stop_reason
    if scanner is not None:
        if rest := scanner.finish():
            yield sse(_chunk(completion_id, created, model, {"content": rest}, None))
        finish = "stop" if scanner.stopped and not final.tool_calls else finish
    for delta in tool_call_deltas(final):
        yield sse(_chunk(completion_id, created, used, delta, None))
    yield sse(_chunk(completion_id, created, used, {}, finish))
    if include_usage:
        body = _chunk(completion_id, created, used, {}, None)
        body["choices"] = []
        body["usage"] = usage_payload(final.usage, final.cached)
        yield sse(body)
    yield sse("[DONE]")
