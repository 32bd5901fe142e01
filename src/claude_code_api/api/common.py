"""Helpers the HTTP surfaces share: the OpenAPI error table, SSE headers, the chat completion
body, the ``x-ccapi-*`` response headers, and running a call under a disconnect watcher."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request

from claude_code_api.api.schemas import ErrorResponse, usage_payload
from claude_code_api.api.streaming import cancel_on_disconnect
from claude_code_api.application.completions import CompletionCall, CompletionService
from claude_code_api.domain import CompletionResult, ToolCall

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in {
        400: "Invalid request",
        401: "Missing, unknown or revoked API key",
        403: "The key cannot act on that project",
        404: "Unknown model",
        413: "Body too large",
        429: "Rate limit or budget exceeded",
        502: "The Claude CLI failed",
        503: "All workers busy (Retry-After)",
        504: "The CLI timed out",
    }.items()
}


def completion_body(call: CompletionCall, result: CompletionResult) -> dict[str, Any]:
    """The ``chat.completion`` object for a finished call."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text}
    if result.tool_calls:
        message["content"] = result.text or None
        message["tool_calls"] = [openai_tool_call(c) for c in result.tool_calls]
    body: dict[str, Any] = {
        "id": "chatcmpl-" + call.request_id.removeprefix("req_"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model or call.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": result.stop_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_payload(result.usage, result.cached),
        "system_fingerprint": None,
    }
    if call.routed:
        body["routing"] = call.routed
    return body


def openai_tool_call(call: ToolCall) -> dict[str, Any]:
    """One ``message.tool_calls`` entry (the arguments as a JSON string, as OpenAI sends)."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def call_headers(call: CompletionCall) -> dict[str, str]:
    """Headers telling the routed model, cache hit/miss (absent when the call skipped the
    cache) and dropped turns.

    With ``model: auto`` (also on streams, whose body cannot carry it) the decision rides along:
    ``x-ccapi-routed`` (the tier), ``x-ccapi-routed-rule``, ``x-ccapi-routed-probability`` (the
    learned router's P(only the strong tier answers well); absent for rule profiles) and
    ``x-ccapi-routed-cost`` (the per-tier USD estimate as compact JSON).
    """
    headers = {"x-ccapi-model": call.model}
    if call.cache_key is not None:
        headers["x-ccapi-cache"] = "hit" if call.cache_hit else "miss"
    if call.routed:
        headers["x-ccapi-routed"] = call.routed.get("model", "")
        headers["x-ccapi-routed-rule"] = str(call.routed.get("rule", ""))
        if call.routed.get("probability") is not None:
            headers["x-ccapi-routed-probability"] = str(call.routed["probability"])
        headers["x-ccapi-routed-cost"] = json.dumps(
            call.routed.get("estimated_cost", {}), separators=(",", ":")
        )
    if call.conversation.dropped_turns:
        headers["x-ccapi-dropped-turns"] = str(call.conversation.dropped_turns)
    return headers


#: Headers of every server-sent event stream (no proxy buffering).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def start_stream(
    request: Request, service: CompletionService, call: CompletionCall
) -> tuple[AsyncGenerator[str | CompletionResult, None], str | CompletionResult]:
    """The call's item stream and its first item (errors before any output raise here, so
    they become a normal HTTP error response); a disconnect meanwhile kills the worker."""
    items = service.stream(call)
    return items, await cancel_on_disconnect(request, anext(items))


async def answer(
    request: Request, service: CompletionService, call: CompletionCall
) -> CompletionResult:
    """The call's whole answer: a cache hit, or a run that a client disconnect kills."""
    # A cache hit needs no disconnect watcher: nothing runs that could be killed.
    result = await service.cached(call)
    if result is None:
        result = await cancel_on_disconnect(request, service.complete(call, lookup=False))
    return result
