"""``/v1/stream``: chat completions streamed over a WebSocket.

Protocol (JSON text frames)::

    → {"type": "auth", "api_key": "ccapi_..."}            (unless sent as a header, as on HTTP)
    → {"type": "chat", "model": "sonnet", "messages": [...], "max_tokens": 500,
       "session_id": "optional: the server keeps the history under this id"}
    ← {"type": "token", "content": "Hello"}
    ← {"type": "tool_calls", "tool_calls": [{"id", "type": "function", "function": {...}}]}
    ← {"type": "done", "model": "...", "usage": {...}, "cached": false, "request_id": "req_..."}
    ← {"type": "error", "error": {"message", "type", "param", "code"}}
    → {"type": "tool_results", "results": [{"tool_call_id": "toolu_...", "content": "sunny"}]}

Several ``chat`` messages may follow on one connection. A disconnect mid-answer kills the
worker (the pipeline's stream is closed) and the tokens consumed are still charged.
With ``session_id`` the conversation is kept in the session store (24 h TTL) so a client only
sends the new user message.

A ``chat`` with ``tools`` whose answer ends in tool calls gets a ``tool_calls`` frame before
``done`` (``finish_reason: "tool_calls"``); the client runs them and sends a ``tool_results``
frame, which continues that conversation with the same settings (or a ``chat`` frame carrying
the ``role: "tool"`` messages, as over HTTP).
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from claude_code_api.api.common import openai_tool_call
from claude_code_api.api.errors import openai_body, validation_error
from claude_code_api.api.middleware import new_request_id
from claude_code_api.api.schemas import ChatCompletionRequest, ChatMessage, usage_payload
from claude_code_api.application.completions import CompletionService
from claude_code_api.application.output_format import StopScanner, shape_result
from claude_code_api.application.services import Services
from claude_code_api.auth import Principal, secret_from_frame, secret_from_headers
from claude_code_api.domain import CompletionResult
from claude_code_api.errors import CCAPIError, InvalidRequestError
from claude_code_api.validation import check_identifier

router = APIRouter(tags=["streaming"])


async def _authenticate(ws: WebSocket, services: Services) -> Principal:
    """The same credentials as HTTP (bearer or ``x-api-key`` header), or an ``auth`` frame."""
    secret = secret_from_headers(ws.headers) or secret_from_frame(await _receive_json(ws))
    return await services.auth.resolve(secret)


async def _answer(
    ws: WebSocket, services: Services, service: CompletionService, principal: Principal,
    frame: dict[str, Any],
) -> dict[str, Any] | None:  # fmt: skip
    """Answer one ``chat`` frame; when the answer ends in tool calls, return the ``chat`` frame
    a ``tool_results`` frame continues (its messages so far, the same settings)."""
    message = dict(frame)
    session_id = message.pop("session_id", None)
    if session_id is not None:
        session_id = check_identifier(session_id, field="session_id")
    message.pop("type", None)
    try:
        body = ChatCompletionRequest.model_validate({**message, "stream": True})
    except ValidationError as exc:
        raise validation_error(exc) from exc
    await services.auth.admit(principal)  # each chat message is one request, as on HTTP
    options = body.call_options()
    project_id = principal.project_for(options.project_id)
    history: list[dict[str, Any]] = []
    if session_id:
        stored = await services.sessions.get(session_id, scope=project_id) or {}
        history = list(stored.get("messages", []))
    rid = new_request_id()
    messages = [ChatMessage.model_validate(m).to_message() for m in history]
    call = await service.prepare(
        principal, [*messages, *body.messages_domain()], options, request_id=rid
    )
    # stop and response_format behave as on /v1/chat/completions (see application/output_format).
    scanner = StopScanner(options.stop)
    final: CompletionResult | None = None
    async with aclosing(service.stream(call)) as items:
        async for item in items:
            if isinstance(item, CompletionResult):
                final = item
            elif text := scanner.feed(item):
                await ws.send_json({"type": "token", "content": text})
    assert final is not None
    if rest := scanner.finish():
        await ws.send_json({"type": "token", "content": rest})
    final = shape_result(final, options)
    reply: dict[str, Any] = {"role": "assistant", "content": final.text}
    if final.tool_calls:
        reply = {**reply, "content": final.text or None}
        reply["tool_calls"] = [openai_tool_call(c) for c in final.tool_calls]
        await ws.send_json({"type": "tool_calls", "tool_calls": reply["tool_calls"]})
    if session_id:
        history += [m.model_dump() for m in body.messages]
        history.append(reply)
        await services.sessions.store(session_id, {"messages": history}, scope=project_id)
    await ws.send_json(
        {
            "type": "done",
            "model": final.model,
            "cached": final.cached,
            "request_id": rid,
            "finish_reason": final.stop_reason,
            "usage": usage_payload(final.usage),
        }
    )
    if not final.tool_calls:
        return None
    # The session keeps the history itself; otherwise the frame carries it.
    sent = [] if session_id else [*frame.get("messages", []), reply]
    return {**frame, "messages": sent}


def _continue(pending: dict[str, Any] | None, frame: dict[str, Any]) -> dict[str, Any]:
    """The ``chat`` frame a ``tool_results`` frame stands for: the pending conversation, then
    one ``role: "tool"`` message per result."""
    if pending is None:
        raise InvalidRequestError(
            "No tool calls wait for results on this connection.", param="type"
        )
    results = frame.get("results")
    if not isinstance(results, list) or not results:
        raise InvalidRequestError(
            "A tool_results frame needs 'results': a list of {tool_call_id, content, is_error}.",
            param="results",
        )
    messages = list(pending["messages"])
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            raise InvalidRequestError("Each result must be an object.", param=f"results[{i}]")
        messages.append(
            {
                "role": "tool",
                "tool_call_id": result.get("tool_call_id"),
                "content": result.get("content"),
                "is_error": bool(result.get("is_error", False)),
            }
        )
    return {**pending, "messages": messages}


async def _receive_json(ws: WebSocket) -> Any:
    """The next frame parsed as JSON; ``ValueError`` for a binary or non-JSON frame.

    (Starlette's ``receive_json`` raises ``KeyError`` on a binary frame, an abnormal close.)
    """
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise ValueError("binary frame")
    return json.loads(text)


def _error(exc: CCAPIError) -> dict[str, Any]:
    return {"type": "error", **openai_body(exc)}


@router.websocket("/v1/stream")
async def stream(ws: WebSocket) -> None:
    """Stream chat completions token by token."""
    services: Services = ws.app.state.services
    service: CompletionService = ws.app.state.completions
    await ws.accept()
    try:
        try:
            principal = await _authenticate(ws, services)
        except CCAPIError as exc:
            await ws.send_json(_error(exc))
            await ws.close(code=4401)
            return
        pending: dict[str, Any] | None = None  # the conversation waiting for tool results
        while True:
            message = await _receive_json(ws)
            kind = message.get("type") if isinstance(message, dict) else None
            if kind not in ("chat", "tool_results"):
                err = InvalidRequestError(
                    "Expected a message with type 'chat' or 'tool_results'.", param="type"
                )
                await ws.send_json(_error(err))
                continue
            try:
                if kind == "tool_results":
                    message = _continue(pending, message)
                pending = await _answer(ws, services, service, principal, message)
            except CCAPIError as exc:
                await ws.send_json(_error(exc))
    except WebSocketDisconnect:
        return
    except ValueError:  # a binary frame, or a text frame that is not JSON
        err = InvalidRequestError("Frames must be JSON text frames.")
        await ws.send_json(_error(err))
        await ws.close(code=1003)
