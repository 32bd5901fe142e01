"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: Anthropic's Messages API.

Point the official ``anthropic`` SDK at the service (``base_url="http://host:8080"``, the API key
as ``api_key``; it travels as a bearer token or as ``x-api-key``). Errors use Anthropic's error
shape.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from claude_code_api.api.anthropic import (
    CountTokensRequest,
    MessagesRequest,
    anthropic_sse,
    message_body,
    to_domain,
)
from claude_code_api.api.common import (
    ERRORS,
    SSE_HEADERS,
    answer,
    call_headers,
    start_stream,
)
from claude_code_api.api.deps import CompletionsDep, PrincipalDep, extra_headers, request_id
from claude_code_api.api.repeat_hits import remember_call
from claude_code_api.application.completions import CompletionCall
from claude_code_api.domain import CompletionResult

router = APIRouter(tags=["anthropic"])


@router.post(
    "/v1/messages",
    responses={
        **ERRORS,
        200: {
            "description": "A Messages API `message`, or with `stream: true` Anthropic's "
            "server-sent events (`message_start` ... `message_stop`).",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
    },
)
async def messages(
    body: MessagesRequest, request: Request, principal: PrincipalDep, service: CompletionsDep
) -> Response:
    """Create a message (Anthropic-compatible; `model: auto` routes by task)."""
    messages, options = to_domain(body)
    call = await service.prepare(principal, messages, options, request_id=request_id(request))
    message_id = "msg_" + call.request_id.removeprefix("req_")
    stops = list(options.stop)
    headers = {**extra_headers(request)}
    if body.stream:
        items, first = await start_stream(request, service, call)
        headers.update(call_headers(call))
        return StreamingResponse(
            anthropic_sse(items, first, message_id=message_id, model=call.model, stops=stops),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    result = await answer(request, service, call)
    remember_call(request.scope["state"], call)
    return render_message(call, result, headers)


def render_message(
    call: CompletionCall, result: CompletionResult, headers: dict[str, str]
) -> Response:
    """The non-streaming response (also what api/repeat_hits.py answers repeats with)."""
    headers = {**headers, **call_headers(call)}
    message_id = "msg_" + call.request_id.removeprefix("req_")
    payload = message_body(message_id, call.model, result, list(call.options.stop))
    if call.routed:  # model auto: the router's decision, as on chat completions
        payload["routing"] = call.routed
    return Response(
        json.dumps(payload, separators=(",", ":")),
        media_type="application/json",
        headers=headers,
    )


@router.post("/v1/messages/count_tokens", responses=ERRORS)
async def count_tokens(
    body: CountTokensRequest, principal: PrincipalDep, service: CompletionsDep
) -> dict[str, int]:
    """Estimate a Messages request's input tokens with the service's one estimator (the
    same estimate budgets reserve; images count 1,600 tokens each). Nothing runs."""
    messages, _options = to_domain(body)
    return {"input_tokens": service.count_tokens(messages)}
