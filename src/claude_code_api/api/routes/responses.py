"""The OpenAI Responses API: ``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}``.

A response runs through the same pipeline as a chat completion (prepare → cache → reserve →
execute → settle), so budgets, usage rows, routing and tier caps apply unchanged. With
``previous_response_id`` the stored conversation (earlier inputs and answers, not their
``instructions``, as OpenAI documents) comes first and the new input is appended.

Function tools use the chat route's machinery: the answer's calls become ``function_call``
output items; the client's ``function_call_output`` items become tool results, which resume the
CLI run suspended on those calls when this process holds it, else the conversation is rebuilt
from the stored turns and the input.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from claude_code_api.api.common import ERRORS, SSE_HEADERS, answer, call_headers, start_stream
from claude_code_api.api.deps import (
    CompletionsDep,
    PrincipalDep,
    ServicesDep,
    extra_headers,
    request_id,
)
from claude_code_api.api.responses_schemas import (
    ResponseCreateRequest,
    answer_message,
    call_ids,
    conversation_items,
    function_call_item,
    input_messages,
)
from claude_code_api.api.responses_stream import response_events
from claude_code_api.application.completions import CompletionCall
from claude_code_api.cache.stored_responses import ResponseStore, new_response_id
from claude_code_api.domain import CompletionResult, Message
from claude_code_api.errors import NotFoundError

router = APIRouter(tags=["responses"])


async def get_store(services: ServicesDep) -> ResponseStore:
    """Stored responses, in the same backend as sessions (Redis when configured)."""
    return ResponseStore(services.sessions.backend, services.settings.responses_ttl)


StoreDep = Annotated[ResponseStore, Depends(get_store)]


def _not_found(response_id: str, param: str = "response_id") -> NotFoundError:
    # Same answer for unknown, expired and another project's ids: nothing leaks.
    return NotFoundError(f"Response with id '{response_id[:64]}' not found.", param=param)


def usage_object(result: CompletionResult) -> dict[str, Any]:
    """The Responses ``usage`` object (input counts include Anthropic's cache reads/writes)."""
    u = result.usage
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_input_tokens,
            "cache_write_tokens": u.cache_creation_input_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.total_tokens,
        "cost_usd": u.cost_usd,
    }


def response_object(
    *,
    response_id: str,
    body: ResponseCreateRequest,
    model: str,
    created_at: int,
    result: CompletionResult | None,
    message_id: str,
) -> dict[str, Any]:
    """The ``response`` object; ``result=None`` gives the in-progress shell of a stream."""
    status = "in_progress"
    output: list[dict[str, Any]] = []
    incomplete = None
    if result is not None:
        status = "incomplete" if result.stop_reason == "length" else "completed"
        if status == "incomplete":
            incomplete = {"reason": "max_output_tokens"}
        output = output_items(result, message_id, status)
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": int(time.time()) if result is not None else None,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": (result.model if result else "") or model,
        "output": output,
        **body.echo_tools(),
        "previous_response_id": body.previous_response_id,
        "store": body.store,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "usage": usage_object(result) if result is not None else None,
        "user": body.user,
        "metadata": body.metadata or {},
    }


def output_items(result: CompletionResult, message_id: str, status: str) -> list[dict[str, Any]]:
    """The answer's output items: its text as a ``message`` (unless it is only calls), then one
    ``function_call`` per call, in the model's order."""
    calls = [function_call_item(call) for call in result.tool_calls]
    if result.text or not calls:
        return [output_message(message_id, result.text, status), *calls]
    return calls


def output_message(message_id: str, text: str, status: str) -> dict[str, Any]:
    """The assistant ``message`` output item."""
    return {
        "type": "message",
        "id": message_id,
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


async def _history(store: ResponseStore, project_id: str, previous: str | None) -> list[Message]:
    if previous is None:
        return []
    record = await store.get(project_id, previous)
    if record is None:
        raise _not_found(previous, "previous_response_id")
    return input_messages(record["conversation"])


class Turn:
    """One response being made: what to store once the answer is known."""

    def __init__(
        self,
        store: ResponseStore,
        call: CompletionCall,
        body: ResponseCreateRequest,
        *,
        history: list[Message],
        new_input: list[Message],
    ) -> None:
        self.store = store
        self.call = call
        self.body = body
        self.id = new_response_id()
        self.message_id = "msg_" + self.id.removeprefix("resp_")
        self.created_at = int(time.time())
        self.history = history
        self.new_input = new_input

    def shell(self, result: CompletionResult | None) -> dict[str, Any]:
        """The response object, finished when ``result`` is given."""
        return response_object(
            response_id=self.id,
            body=self.body,
            model=self.call.model,
            created_at=self.created_at,
            result=result,
            message_id=self.message_id,
        )

    async def finish(self, result: CompletionResult) -> dict[str, Any]:
        """The finished response object, stored when ``store`` is true."""
        obj = self.shell(result)
        if self.body.store:
            turns = [*self.history, *self.new_input, answer_message(result)]
            record = {
                "response": obj,
                "input": conversation_items(self.new_input),
                "conversation": conversation_items(turns),  # without `instructions`
            }
            await self.store.put(self.call.project_id, self.id, record)
        return obj


@router.post(
    "/v1/responses",
    responses={
        **ERRORS,
        200: {
            "description": "A `response` object, or with `stream: true` a `text/event-stream` "
            "of `response.*` events ending in `response.completed`.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def create_response(
    body: ResponseCreateRequest,
    request: Request,
    principal: PrincipalDep,
    service: CompletionsDep,
    store: StoreDep,
) -> Response:
    """Create a model response (OpenAI Responses API; `previous_response_id` continues one)."""
    options = body.call_options()
    project_id = principal.project_for(options.project_id)
    history = await _history(store, project_id, body.previous_response_id)
    new_input = input_messages(body.input, known_calls=call_ids(history))
    system = [Message.of("system", body.instructions)] if body.instructions else []
    call = await service.prepare(
        principal, [*system, *history, *new_input], options, request_id=request_id(request)
    )
    turn = Turn(store, call, body, history=history, new_input=new_input)
    headers = {**extra_headers(request)}
    if body.stream:
        items, first = await start_stream(request, service, call)
        headers.update(call_headers(call))
        return StreamingResponse(
            response_events(items, first, turn),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    result = await answer(request, service, call)
    headers.update(call_headers(call))
    obj = await turn.finish(result)
    return Response(
        json.dumps(obj, separators=(",", ":")), media_type="application/json", headers=headers
    )


ProjectQuery = Annotated[
    str | None, Query(max_length=128, description="Admin key only: the project to look in.")
]


@router.get("/v1/responses/{response_id}", responses=ERRORS)
async def get_response(
    response_id: str, principal: PrincipalDep, store: StoreDep, project_id: ProjectQuery = None
) -> dict[str, Any]:
    """Retrieve a stored response of the key's project."""
    record = await store.get(principal.project_for(project_id), response_id)
    if record is None:
        raise _not_found(response_id)
    obj: dict[str, Any] = record["response"]
    return obj


@router.delete("/v1/responses/{response_id}", responses=ERRORS)
async def delete_response(
    response_id: str, principal: PrincipalDep, store: StoreDep, project_id: ProjectQuery = None
) -> dict[str, Any]:
    """Delete a stored response of the key's project."""
    if not await store.delete(principal.project_for(project_id), response_id):
        raise _not_found(response_id)
    return {"id": response_id, "object": "response.deleted", "deleted": True}
