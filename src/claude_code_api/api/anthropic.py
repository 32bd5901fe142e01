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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from claude_code_api import domain
from claude_code_api.api.errors import anthropic_body, validation_error
from claude_code_api.api.schemas import (
    MAX_TOOLS,
    TOOL_NAME_PATTERN,
    ChatCompletionRequest,
    ThinkingParam,
    check_schema_object,
)
from claude_code_api.application.output_format import StopScanner, find_stop
from claude_code_api.domain import CallOptions, CompletionResult, ToolCall, Usage, model_of
from claude_code_api.errors import CCAPIError, InvalidRequestError

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


class ToolUseBlock(BaseModel):
    """``{"type": "tool_use", "id", "name", "input"}`` (assistant messages)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["tool_use"]
    id: str = Field(..., min_length=1, max_length=256)
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(BaseModel):
    """``{"type": "tool_result", "tool_use_id", "content", "is_error"}`` (user messages)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool = False

    def text(self) -> str:
        """The result's text (image blocks of a result are not passed on)."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


Block = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")
]


class Message(BaseModel):
    """One turn of a Messages request."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str | list[Block]


class Tool(BaseModel):
    """A client tool: ``name``, ``description``, ``input_schema`` (a JSON-schema object)."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    input_schema: dict[str, Any]

    @field_validator("input_schema")
    @classmethod
    def _json_schema_object(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_schema_object(value, "input_schema")


class ToolChoice(BaseModel):
    """``tool_choice``: auto, any, tool (with ``name``) or none."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


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
    tools: list[Tool] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = None


class CountTokensRequest(MessagesRequest):
    """``POST /v1/messages/count_tokens`` body: a Messages request without ``max_tokens``."""

    max_tokens: int = Field(1, ge=1, le=128_000)


def _part(block: TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock) -> dict[str, Any]:
    assert isinstance(block, TextBlock | ImageBlock)
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
    calls: set[str] = set()
    for index, turn in enumerate(body.messages):
        messages += _turn_messages(index, turn, calls)
    extra: dict[str, Any] = {}
    if body.tools:
        extra["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in body.tools
        ]
    choice = body.tool_choice
    if choice is not None:
        if choice.type == "tool":
            extra["tool_choice"] = {"type": "function", "function": {"name": choice.name or ""}}
        else:
            extra["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
        if choice.disable_parallel_tool_use:
            extra["parallel_tool_calls"] = False
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
                **extra,
            }
        )
    except ValidationError as exc:
        raise validation_error(exc) from exc


def _turn_messages(index: int, turn: Message, calls: set[str]) -> list[dict[str, Any]]:
    """Chat messages for one turn: tool_use blocks become the assistant's ``tool_calls``,
    tool_result blocks ``tool`` messages (before the turn's other blocks, as the API orders
    them); a result must answer an earlier tool_use."""
    if isinstance(turn.content, str):
        return [{"role": turn.role, "content": turn.content}]
    parts = [_part(b) for b in turn.content if isinstance(b, TextBlock | ImageBlock)]
    out: list[dict[str, Any]] = []
    uses = [b for b in turn.content if isinstance(b, ToolUseBlock)]
    for position, block in enumerate(turn.content):
        if not isinstance(block, ToolResultBlock):
            continue
        if turn.role != "user" or block.tool_use_id not in calls:
            raise InvalidRequestError(
                f"messages[{index}].content[{position}].tool_use_id "
                f"{block.tool_use_id[:100]!r} answers no tool_use of an earlier message.",
                param=f"messages[{index}].content[{position}].tool_use_id",
                code="invalid_tool_call_id",
            )
        out.append(
            {
                "role": "tool",
                "tool_call_id": block.tool_use_id,
                "content": block.text(),
                "is_error": block.is_error,
            }
        )
    if uses and turn.role == "assistant":
        calls.update(b.id for b in uses)
        tool_calls = [
            {
                "id": b.id,
                "type": "function",
                "function": {"name": b.name, "arguments": json.dumps(b.input)},
            }
            for b in uses
        ]
        out.append({"role": "assistant", "content": parts or None, "tool_calls": tool_calls})
    elif parts or not out:
        out.append({"role": turn.role, "content": parts})
    return out


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
    if hit is not None and not result.tool_calls:
        return result.text[: hit[0]], hit[1], "stop_sequence"
    if result.tool_calls:
        return result.text, None, "tool_use"
    return result.text, None, "max_tokens" if result.stop_reason == "length" else "end_turn"


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


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
        "content": ([{"type": "text", "text": text}] if text or not result.tool_calls else [])
        + [_tool_use(c) for c in result.tool_calls],
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
    for index, call in enumerate(final.tool_calls, start=1):
        for event in _tool_use_events(index, call):
            yield event
    if final.tool_calls:
        sequence, reason = None, "tool_use"
    elif scanner.stopped:
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


def _tool_use_events(index: int, call: ToolCall) -> list[bytes]:
    """One streamed tool_use block: start (input ``{}``), ``input_json_delta`` fragments, stop."""
    start = dict(_tool_use(call), input={})
    events = [
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    raw = json.dumps(call.arguments)
    size = max(1, -(-len(raw) // 4))
    for begin in range(0, len(raw), size):
        delta = {"type": "input_json_delta", "partial_json": raw[begin : begin + size]}
        events.append(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
