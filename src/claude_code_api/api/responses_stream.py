"""The Responses API's server-sent events, in OpenAI's documented order::

    response.created, response.in_progress, response.output_item.added,
    response.content_part.added, response.output_text.delta ..., response.output_text.done,
    response.content_part.done, response.output_item.done, response.completed

An answer with function calls then has, per call (output indices after the message's, which is
left out when the answer is only calls)::

    response.output_item.added (function_call, arguments ""),
    response.function_call_arguments.delta ..., response.function_call_arguments.done,
    response.output_item.done

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

from claude_code_api.api.streaming import ARGUMENT_FRAGMENTS
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
    text = _TextItem(turn.message_id, event)
    final: CompletionResult | None = None
    try:
        piece: str | CompletionResult | None = first
        while piece is not None:
            if isinstance(piece, CompletionResult):
                final = piece
            elif piece:
                for chunk in text.delta(piece):
                    yield chunk
            piece = await anext(items, None)
        assert final is not None  # the pipeline always ends with its result
        done = await turn.finish(final)
    except CCAPIError as exc:
        error = {"message": exc.message, "type": exc.error_type, "param": exc.param}
        yield event("error", code=exc.code, message=exc.message, param=exc.param, error=error)
        return
    finally:
        await items.aclose()
    output: list[dict[str, Any]] = done["output"]
    if output and output[0]["type"] == "message":
        if not text.opened:  # no text was streamed (an empty answer): the item all the same
            for chunk in text.delta(""):
                yield chunk
        for chunk in text.close(output[0]):
            yield chunk
    for index, item in enumerate(output):
        if item["type"] == "function_call":
            for chunk in _function_call_events(event, index, item):
                yield chunk
    kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
    yield event(kind, response=done)


class _TextItem:
    """The answer's ``message`` item (output index 0), opened by its first text delta so that
    an answer made only of function calls has no empty message before them."""

    def __init__(self, message_id: str, event: _Events) -> None:
        self.event = event
        self.where = {"item_id": message_id, "output_index": 0}
        self.message_id = message_id
        self.opened = False

    def delta(self, piece: str) -> list[bytes]:
        """Events for a text delta (after the item's opening events the first time)."""
        chunks: list[bytes] = []
        if not self.opened:
            self.opened = True
            item = {
                "type": "message",
                "id": self.message_id,
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            chunks.append(self.event("response.output_item.added", output_index=0, item=item))
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            chunks.append(
                self.event("response.content_part.added", **self.where, content_index=0, part=empty)
            )
        if piece:
            chunks.append(
                self.event(
                    "response.output_text.delta",
                    **self.where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            )
        return chunks

    def close(self, message: dict[str, Any]) -> list[bytes]:
        """The item's closing events, carrying the finished ``message``."""
        part = message["content"][0]
        where, event = self.where, self.event
        return [
            event(
                "response.output_text.done",
                **where,
                content_index=0,
                text=part["text"],
                logprobs=[],
            ),
            event("response.content_part.done", **where, content_index=0, part=part),
            event("response.output_item.done", output_index=0, item=message),
        ]


def _function_call_events(event: _Events, index: int, item: dict[str, Any]) -> list[bytes]:
    """``output_item.added`` (empty arguments), the arguments in fragments, their ``done`` and
    ``output_item.done``: the calls come with the final result, so they are sent at the end."""
    added = {**item, "arguments": "", "status": "in_progress"}
    where = {"item_id": item["id"], "output_index": index}
    chunks = [event("response.output_item.added", output_index=index, item=added)]
    raw: str = item["arguments"]
    size = max(1, -(-len(raw) // ARGUMENT_FRAGMENTS))
    for start in range(0, len(raw), size):
        piece = raw[start : start + size]
        chunks.append(event("response.function_call_arguments.delta", **where, delta=piece))
    chunks.append(
        event("response.function_call_arguments.done", **where, name=item["name"], arguments=raw)
    )
    chunks.append(event("response.output_item.done", output_index=index, item=item))
    return chunks
