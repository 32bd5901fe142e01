"""Anthropic Messages API shapes for ``POST /v1/messages``, mapped onto the shared pipeline.

A Messages request becomes domain messages and call options (system → a system message, text
and image blocks → text and images, ``stop_sequences`` → ``stop``), validated by the same rules
as a :class:`ChatCompletionRequest`, so routing, budgets, the cache, usage rows and the executor
behave exactly as for ``/v1/chat/completions``. The answer is
rendered back as a Messages ``message`` object or Anthropic's server-sent events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from claude_code_api import domain
from claude_code_api.api.errors import anthropic_body, validation_error
from claude_code_api.api.schemas import ChatCompletionRequest, ThinkingParam
from claude_code_api.application.output_format import StopScanner, find_stop
from claude_code_api.domain import CallOptions, CompletionResult, Usage, model_of
from claude_code_api.errors import CCAPIError

__all__ = [
    "CountTokensRequest",
    "MessagesRequest",
    "anthropic_sse",
    "message_body",
    "to_chat_request",
    "to_domain",
]


class TextBlock(BaseModel):
    """``{"type": "text", "text": ...}`` (``cache_control`` and citations are ignored)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ImageSource(BaseModel):
    """An image block's ``source``: ``base64`` (``media_type`` + ``data``) or ``url``."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(BaseModel):
    """``{"type": "image", "source": {...}}`` (user messages)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["image"]
    source: ImageSource


Block = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class Message(BaseModel):
    """One turn of a Messages request."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str | list[Block]


class MessagesRequest(BaseModel):
    """``POST /v1/messages`` body (Anthropic's Messages API, text and images)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 256,
                    "system": "You are terse.",
                    "messages": [{"role": "user", "content": "Explain async/await in one line."}],
                }
            ]
        },
    )

    model: str = Field(..., description="auto | haiku | sonnet | opus | a full Claude model id")
    max_tokens: int = Field(..., ge=1, le=128_000)
    messages: list[Message] = Field(..., min_length=1)
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = Field(None, max_length=4)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=1, description="Accepted, not honoured.")
    top_p: float | None = Field(None, ge=0, le=1, description="Accepted, not honoured.")
    top_k: int | None = Field(None, ge=0, description="Accepted, not honoured.")
    metadata: dict[str, Any] | None = None
    cache: bool = Field(True, description="false: neither read nor write the response cache.")
    thinking: ThinkingParam | None = Field(
        None, description="Extended thinking; off when absent (the CLI would otherwise think)."
    )


class CountTokensRequest(MessagesRequest):
    """``POST /v1/messages/count_tokens`` body: a Messages request without ``max_tokens``."""

    max_tokens: int = Field(1, ge=1, le=128_000)


def _part(block: TextBlock | ImageBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    src = block.source
    url = f"data:{src.media_type};base64,{src.data}" if src.type == "base64" else src.url or ""
    return {"type": "image_url", "image_url": {"url": url}}


def to_chat_request(body: MessagesRequest) -> ChatCompletionRequest:
    """The equivalent chat request; image and stop problems become 400s like on the chat API."""
    messages: list[dict[str, Any]] = []
    if body.system:
        system = body.system
        text = system if isinstance(system, str) else "".join(b.text for b in system)
        messages.append({"role": "system", "content": text})
    for turn in body.messages:
        content = (
            turn.content if isinstance(turn.content, str) else [_part(b) for b in turn.content]
        )
        messages.append({"role": turn.role, "content": content})
    try:
        return ChatCompletionRequest.model_validate(
            {
                "model": body.model,
                "messages": messages,
                "max_tokens": body.max_tokens,
                "stop": body.stop_sequences or None,
                "temperature": body.temperature,
                "top_p": body.top_p,
                "stream": body.stream,
                "cache": body.cache,
                "thinking": body.thinking.model_dump(exclude_none=True) if body.thinking else None,
            }
        )
    except ValidationError as exc:
        raise validation_error(exc) from exc


def to_domain(body: MessagesRequest) -> tuple[list[domain.Message], CallOptions]:
    """The request's domain messages and call options (400s as on the chat API)."""
    chat = to_chat_request(body)
    return chat.messages_domain(), chat.call_options()


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }


def _stop(result: CompletionResult, stops: list[str]) -> tuple[str, str | None, str]:
    """(text, stop_sequence, stop_reason) of a finished answer."""
    hit = find_stop(result.text, stops)
    if hit is not None:
        return result.text[: hit[0]], hit[1], "stop_sequence"
    return result.text, None, "max_tokens" if result.stop_reason == "length" else "end_turn"


def message_body(
    message_id: str, model: str, result: CompletionResult, stops: list[str]
) -> dict[str, Any]:
    """The Messages API ``message`` object for a finished answer."""
    text, sequence, reason = _stop(result, stops)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": result.model or model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": _usage(result.usage),
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def anthropic_sse(
    items: AsyncGenerator[str | CompletionResult, None],
    first: str | CompletionResult,
    *,
    message_id: str,
    model: str,
    stops: list[str],
) -> AsyncIterator[bytes]:
    """Render pipeline items as Anthropic's stream: ``message_start``, one text block of
    ``content_block_delta`` events, ``message_delta`` (stop reason, usage), ``message_stop``.

    A failure after the stream started is sent as an ``error`` event, as Anthropic does.
    """
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model_of(first, model),  # the CLI's resolved model, not the alias asked for
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    yield _event("message_start", {"type": "message_start", "message": start})
    yield _event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    scanner = StopScanner(stops)
    final: CompletionResult | None = None

    def delta(text: str) -> bytes:
        body = {"type": "text_delta", "text": text}
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": body}
        )

    try:
        item: str | CompletionResult | None = first
        while item is not None:
            if isinstance(item, CompletionResult):
                final = item
            elif text := scanner.feed(item):
                yield delta(text)
            item = await anext(items, None)
    except CCAPIError as exc:
        yield _event("error", anthropic_body(exc))
        return
    finally:
        await items.aclose()
    assert final is not None
    if rest := scanner.finish():
        yield delta(rest)
    yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    if scanner.stopped:
        sequence, reason = scanner.matched, "stop_sequence"
    else:
        sequence, reason = None, "max_tokens" if final.stop_reason == "length" else "end_turn"
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": _usage(final.usage),
        },
    )
    yield _event("message_stop", {"type": "message_stop"})
