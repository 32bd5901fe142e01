"""The OpenAI Responses API's request body and its ``input`` items as domain messages.

``input`` is a string (one user message) or a list of message items, each
``{"role", "content"}`` (``type: "message"`` optional) whose content is a string or a list of
``input_text`` / ``output_text`` parts. Other item and part types (function calls, reasoning,
images, files, item references) are refused with a 400 whose ``param`` names the item, e.g.
``input[2].type``, rather than being silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from claude_code_api.domain import CallOptions, Message, Role
from claude_code_api.errors import InvalidRequestError

_ROLES: frozenset[str] = frozenset({"user", "assistant", "system", "developer"})
#: Content part types accepted per role (OpenAI: input parts for the caller, output for the model).
_PART_TYPES = {"assistant": frozenset({"output_text", "input_text"})}
_INPUT_PARTS = frozenset({"input_text"})


_PART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["input_text", "output_text"]},
        "text": {"type": "string"},
    },
    "required": ["type", "text"],
    "additionalProperties": False,
}
#: The documented shape of ``input``. Items are validated by :func:`input_messages` (so a bad
#: item is a 400 naming it); the schema is explicit so that OpenAPI shows what is supported
#: rather than "any object" (which also sends schema-driven fuzzers into recursion).
INPUT_SCHEMA: dict[str, Any] = {
    "type": ["string", "array"],
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["message"]},
            "role": {"type": "string", "enum": sorted(_ROLES)},
            "content": {"type": ["string", "array"], "items": _PART_SCHEMA},
        },
        "required": ["role", "content"],
        "additionalProperties": False,
    },
    "description": "Text, or message items {role, content} (input_text/output_text parts).",
}


class ResponseCreateRequest(BaseModel):
    """``POST /v1/responses`` body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "auto", "input": "Explain async/await in one line.", "store": True}
            ]
        },
    )

    model: str = Field("auto", description="auto | haiku | sonnet | opus | a full Claude model id")
    input: Annotated[str | list[dict[str, Any]], WithJsonSchema(INPUT_SCHEMA)]
    instructions: str | None = Field(
        None, description="A system message for this response only (not carried over)."
    )
    previous_response_id: str | None = Field(
        None, max_length=128, description="Continue the conversation of a stored response."
    )
    store: bool = Field(True, description="Keep the response for GET and previous_response_id.")
    stream: bool = False
    max_output_tokens: int | None = Field(None, ge=1, le=128_000)
    temperature: float | None = Field(None, ge=0, le=2, description="Accepted, not honoured.")
    top_p: float | None = Field(None, ge=0, le=1, description="Accepted, not honoured.")
    metadata: dict[str, str] | None = Field(None, description="Echoed back on the response.")
    user: str | None = Field(None, max_length=256)
    project_id: str | None = Field(None, max_length=128, description="Defaults to the key's.")
    tools: Annotated[
        list[dict[str, Any]] | None, WithJsonSchema({"type": "array", "maxItems": 0})
    ] = Field(None, description="Refused when not empty: no tools on this API yet.")
    tool_choice: str | None = Field(None, description="Only 'none' or 'auto' without tools.")

    def refuse_tools(self) -> None:
        """A 400 for function or built-in tools, which this API does not run yet."""
        if self.tools or self.tool_choice not in (None, "none", "auto"):
            raise InvalidRequestError(
                "'tools': function calling is not supported on /v1/responses yet; use "
                "/v1/chat/completions or /v1/messages for client tools.",
                param="tools",
                code="unsupported_parameter",
            )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must not be empty")
        return value.strip()

    def call_options(self) -> CallOptions:
        """The domain call options."""
        return CallOptions(
            model=self.model,
            project_id=self.project_id,
            max_tokens=self.max_output_tokens,
            temperature=self.temperature,
        )


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code="invalid_value")


def _content_text(role: str, content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or a list of parts.", f"{where}.content")
    allowed = _PART_TYPES.get(role, _INPUT_PARTS)
    texts: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in allowed:
            raise _bad(
                f"Unsupported content part type {str(kind)[:40]!r} at '{at}.type' for role "
                f"'{role}'; supported: {', '.join(sorted(allowed))}.",
                f"{at}.type",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise _bad(f"'{at}.text' must be a string.", f"{at}.text")
        texts.append(text)
    return "".join(texts)


def input_messages(value: str | list[dict[str, Any]]) -> list[Message]:
    """The request's ``input`` as domain messages, or a 400 naming the first bad item."""
    if isinstance(value, str):
        return [Message.of("user", value)]
    if not value:
        raise _bad("'input' must not be empty.", "input")
    messages: list[Message] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind != "message":
            raise _bad(
                f"Unsupported input item type {str(kind)[:40]!r} at '{where}.type'; only "
                "'message' items are supported (function tools are not available yet).",
                f"{where}.type",
            )
        role = item.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _bad(
                f"'{where}.role' must be one of user, assistant, system, developer.",
                f"{where}.role",
            )
        role_name = cast(Role, role)
        messages.append(Message.of(role_name, _content_text(role_name, item.get("content"), where)))
    return messages


def message_items(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as Responses input items (``GET .../input_items`` style, also what is stored)."""
    return [{"type": "message", "role": m.role, "content": m.text()} for m in messages]


def messages_from_items(items: list[dict[str, Any]]) -> list[Message]:
    """Inverse of :func:`message_items` for stored conversations."""
    return [Message.of(item["role"], item["content"]) for item in items]


#: Response statuses this service produces.
Status = Literal["completed", "incomplete"]
