"""The Responses API's server-sent events, in OpenAI's documented order::

    response.created, response.in_progress, response.output_item.added,
    response.content_part.added, response.output_text.delta ..., response.output_text.done,
    response.content_part.done, response.output_item.done, response.completed

Each event is ``event: <type>`` plus ``data: {..., "type", "sequence_number"}`` (numbered from
0). There is no ``[DONE]``: the stream ends after ``response.completed``. A failure after the
stream started becomes an ``error`` event (the openai SDK raises it as an ``APIError``). The
response is stored before ``response.completed`` is sent, so a client that reads it can at once
continue with ``previous_response_id``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from claude_code_api.domain import CompletionResult
from claude_code_api.errors import CCAPIError

if TYPE_CHECKING:
    from claude_code_api.api.routes.responses import Turn


class _Events:
    """Numbers and encodes events."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, **data, "sequence_number": self.sequence}
        self.sequence += 1
        text = json.dumps(payload, separators=(",", ":"))
        return f"event: {kind}\ndata: {text}\n\n".encode()


async def response_events(
    items: AsyncGenerator[str | CompletionResult, None],
    first: str | CompletionResult,
    turn: Turn,
) -> AsyncIterator[bytes]:
    """Render pipeline items (text deltas, then the result) as Responses stream events."""
    event = _Events()
    shell = turn.shell(None)
    yield event("response.created", response=shell)
    yield event("response.in_progress", response=shell)
    where = {"item_id": turn.message_id, "output_index": 0}
    item = {
        "type": "message",
        "id": turn.message_id,
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    yield event("response.output_item.added", output_index=0, item=item)
    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield event("response.content_part.added", **where, content_index=0, part=empty)
    final: CompletionResult | None = None
    try:
        piece: str | CompletionResult | None = first
        while piece is not None:
            if isinstance(piece, CompletionResult):
                final = piece
            elif piece:
                yield event(
                    "response.output_text.delta",
                    **where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            piece = await anext(items, None)
        assert final is not None  # the pipeline always ends with its result
        done = await turn.finish(final)
    except CCAPIError as exc:
        error = {"message": exc.message, "type": exc.error_type, "param": exc.param}
        yield event("error", code=exc.code, message=exc.message, param=exc.param, error=error)
        return
    finally:
        await items.aclose()
    message = done["output"][0]
    text = final.text
    yield event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
    yield event("response.content_part.done", **where, content_index=0, part=message["content"][0])
    yield event("response.output_item.done", output_index=0, item=message)
    kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
    yield event(kind, response=done)
