"""``POST /v1/chat/completions``."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from claude_code_api.api.common import (
    ERRORS,
    SSE_HEADERS,
    answer,
    call_headers,
    completion_body,
    start_stream,
)
from claude_code_api.api.deps import CompletionsDep, PrincipalDep, extra_headers, request_id
from claude_code_api.api.repeat_hits import remember_call
from claude_code_api.api.schemas import ChatCompletion, ChatCompletionRequest
from claude_code_api.api.streaming import openai_sse
from claude_code_api.application.completions import CompletionCall
from claude_code_api.application.output_format import shape_result
from claude_code_api.domain import CompletionResult

router = APIRouter(tags=["chat"])


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        **ERRORS,
        200: {
            "description": "A completion, or with `stream: true` a `text/event-stream` of "
            "`chat.completion.chunk` events ending in `data: [DONE]`.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    principal: PrincipalDep,
    service: CompletionsDep,
) -> Response:
    """Create a chat completion (OpenAI-compatible; `model: auto` routes by task)."""
    options = body.call_options()
    call = await service.prepare(
        principal, body.messages_domain(), options, request_id=request_id(request)
    )
    headers = {**extra_headers(request)}
    if body.stream:
        items, first = await start_stream(request, service, call)
        headers.update(call_headers(call))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            openai_sse(
                items,
                first,
                completion_id="chatcmpl-" + call.request_id.removeprefix("req_"),
                created=int(time.time()),
                model=call.model,
                include_usage=include_usage,
                stops=list(options.stop),
            ),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    result = await answer(request, service, call)
    remember_call(request.scope["state"], call)
    return render_completion(call, result, headers)


def render_completion(
    call: CompletionCall, result: CompletionResult, headers: dict[str, str]
) -> Response:
    """The non-streaming response (also what api/repeat_hits.py answers repeats with)."""
    headers = {**headers, **call_headers(call)}
    result = shape_result(result, call.options)
    return Response(
        json.dumps(completion_body(call, result), separators=(",", ":")),
        media_type="application/json",
        headers=headers,
    )
