"""The OpenAI Responses API's request body and its ``input`` items as domain messages.

``input`` is a string (one user message) or a list of items: messages
``{"role", "content"}`` (``type: "message"`` optional) whose content is a string or a list of
``input_text`` / ``output_text`` parts, the model's ``function_call`` items (echoed back by a
client that keeps the conversation itself) and the client's ``function_call_output`` items.
Other item and part types (reasoning, images, files, item references, built-in tool calls) are
refused with a 400 whose ``param`` names the item, e.g. ``input[2].type``, rather than being
silently dropped.

Call ids: the domain's are the model's ``tool_use`` ids (``toolu_...``), which is what a
suspended CLI run is claimed by; this API shows them as OpenAI's ``call_...`` (the same suffix,
:func:`call_id_out`) and maps them back on input (:func:`call_id_in`), so a ``call_id`` a client
made up itself passes through unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from claude_code_api.api.schemas import (
    MAX_TOOLS,
    TOOL_NAME_PATTERN,
    call_arguments,
    check_schema_object,
)
from claude_code_api.domain import CallOptions, CompletionResult, Message, Role, ToolCall, ToolSpec
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
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["message"]},
                    "role": {"type": "string", "enum": sorted(_ROLES)},
                    "content": {"type": ["string", "array"], "items": _PART_SCHEMA},
                },
                "required": ["role", "content"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["function_call"]},
                    "call_id": {"type": "string", "minLength": 1, "maxLength": 256},
                    "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
                    "arguments": {"type": "string"},
                },
                "required": ["type", "call_id", "name", "arguments"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["function_call_output"]},
                    "call_id": {"type": "string", "minLength": 1, "maxLength": 256},
                    "output": {"type": "string"},
                },
                "required": ["type", "call_id", "output"],
                "additionalProperties": False,
            },
        ]
    },
    "description": "Text, or items: messages {role, content} (input_text/output_text parts), "
    "function_call (the model's, echoed back) and function_call_output {call_id, output}.",
}
#: The documented shape of ``tools`` (each item is checked by ``function_tools``).
TOOLS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_TOOLS,
    "items": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["function"]},
            "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
            "description": {"type": "string"},
            "parameters": {"type": "object"},
            "strict": {"type": "boolean"},
        },
        "required": ["type", "name"],
    },
    "description": "Function tools (run by the client, never on the server); other tool types "
    "(web_search, file_search, computer, mcp, ...) are refused.",
}
TOOL_CHOICE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": ["auto", "none", "required"]},
        {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["function"]},
                "name": {"type": "string"},
            },
            "required": ["type", "name"],
        },
    ],
    "description": "auto (default), none, required, or {type: function, name}.",
}


class FunctionTool(BaseModel):
    """One ``tools`` entry: ``{"type": "function", "name", "description", "parameters",
    "strict"}`` (the Responses shape: the function's fields at the top level)."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _json_schema_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_schema_object(value, "parameters")

    def spec(self) -> ToolSpec:
        """The domain tool spec (no parameters: an empty object schema)."""
        return ToolSpec(
            name=self.name,
            description=self.description or "",
            input_schema=self.parameters or {"type": "object", "properties": {}},
            strict=bool(self.strict),
        )

    def echo(self) -> dict[str, Any]:
        """The tool as the response object shows it."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }


def call_id_out(tool_use_id: str) -> str:
    """A domain call id as this API shows it: ``toolu_X`` becomes ``call_X``."""
    if tool_use_id.startswith("toolu_"):
        return "call_" + tool_use_id.removeprefix("toolu_")
    return tool_use_id


def call_id_in(call_id: str) -> str:
    """Inverse of :func:`call_id_out`: ``call_X`` becomes ``toolu_X``, anything else stays."""
    if call_id.startswith("call_"):
        return "toolu_" + call_id.removeprefix("call_")
    return call_id


def arguments_json(arguments: dict[str, Any]) -> str:
    """A call's arguments as the JSON string this API shows; arguments a client sent that were
    not a JSON object (kept as ``{"_raw": text}``, see ``call_arguments``) come back as sent."""
    raw = arguments.get("_raw")
    if isinstance(raw, str) and len(arguments) == 1:
        return raw
    return json.dumps(arguments)


def function_call_item(call: ToolCall, status: str = "completed") -> dict[str, Any]:
    """The ``function_call`` output item of one of the model's calls."""
    return {
        "type": "function_call",
        "id": "fc_" + call.id.removeprefix("toolu_"),
        "call_id": call_id_out(call.id),
        "name": call.name,
        "arguments": arguments_json(call.arguments),
        "status": status,
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
    tools: Annotated[list[Any] | None, WithJsonSchema(TOOLS_SCHEMA)] = None
    tool_choice: Annotated[str | dict[str, Any] | None, WithJsonSchema(TOOL_CHOICE_SCHEMA)] = None
    parallel_tool_calls: bool | None = Field(
        None, description="false: at most one function call per response (default true)."
    )
    include: list[str] | None = Field(
        None, description="Accepted (the openai Agents SDK sends it); nothing extra is included."
    )

    def function_tools(self) -> list[FunctionTool]:
        """``tools`` checked item by item: a 400 naming the first bad one."""
        if len(self.tools or []) > MAX_TOOLS:
            raise _bad(f"At most {MAX_TOOLS} tools per request.", "tools")
        tools: list[FunctionTool] = []
        for i, item in enumerate(self.tools or []):
            where = f"tools[{i}]"
            kind = item.get("type") if isinstance(item, dict) else None
            if kind != "function":
                raise InvalidRequestError(
                    f"Unsupported tool type {str(kind)[:40]!r} at '{where}.type'; only "
                    "'function' tools are supported (built-in tools such as web_search, "
                    "file_search, computer or mcp are not).",
                    param=f"{where}.type",
                    code="unsupported_tool_type",
                )
            try:
                tools.append(FunctionTool.model_validate(item))
            except ValidationError as exc:
                error = exc.errors()[0]
                at = ".".join([where, *map(str, error["loc"])])
                raise _bad(f"Invalid '{at}': {error['msg']}.", at) from None
        return tools

    def tool_choice_name(self) -> str:
        """``tool_choice`` as the domain's string: auto, none, required or a tool's name."""
        choice = self.tool_choice
        if choice is None:
            return "auto"
        if isinstance(choice, str) and choice in ("auto", "none", "required"):
            return choice
        if isinstance(choice, dict) and choice.get("type") == "function":
            name = choice.get("name")
            if isinstance(name, str) and name:
                return name
            raise _bad("'tool_choice.name' must name a function in 'tools'.", "tool_choice.name")
        raise _bad(
            '\'tool_choice\' must be auto, none, required or {"type": "function", "name": ...}'
            "; other tool types are not supported.",
            "tool_choice",
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
            tools=tuple(t.spec() for t in self.function_tools()),
            tool_choice=self.tool_choice_name(),
            parallel_tool_calls=self.parallel_tool_calls is not False,
        )

    def echo_tools(self) -> dict[str, Any]:
        """``tools``, ``tool_choice`` and ``parallel_tool_calls`` as the response shows them."""
        return {
            "tools": [t.echo() for t in self.function_tools()],
            "tool_choice": self.tool_choice or "auto",
            "parallel_tool_calls": self.parallel_tool_calls is not False,
        }


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code="invalid_value")


def _content_text(role: str, content: Any, where: str, field: str = "content") -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"'{where}.{field}' must be a string or a list of parts.", f"{where}.{field}")
    allowed = _PART_TYPES.get(role, _INPUT_PARTS)
    texts: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}.{field}[{j}]"
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


def input_messages(
    value: str | list[dict[str, Any]], known_calls: Iterable[str] = ()
) -> list[Message]:
    """The request's ``input`` as domain messages, or a 400 naming the first bad item.

    ``known_calls`` are the (domain) ids of the calls made earlier in the conversation (the
    stored turns of ``previous_response_id``): a ``function_call_output`` must answer one of
    them or a ``function_call`` item before it.
    """
    if isinstance(value, str):
        return [Message.of("user", value)]
    if not value:
        raise _bad("'input' must not be empty.", "input")
    stored = set(known_calls)
    calls = set(stored)
    messages: list[Message] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "function_call":
            call = _function_call(item, where)
            if call.id in stored:  # echoed back although previous_response_id holds it
                continue
            calls.add(call.id)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":  # one turn: text, then calls
                messages[-1] = dataclasses.replace(last, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(Message("assistant", ("",), tool_calls=(call,)))
            continue
        if kind == "function_call_output":
            messages.append(_function_call_output(item, where, calls))
            continue
        if kind != "message":
            raise _bad(
                f"Unsupported input item type {str(kind)[:40]!r} at '{where}.type'; supported: "
                "message, function_call, function_call_output.",
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


def _string(item: dict[str, Any], key: str, where: str, limit: int | None = None) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or (limit is not None and len(value) > limit):
        size = f" of at most {limit} characters" if limit else ""
        raise _bad(f"'{where}.{key}' must be a non-empty string{size}.", f"{where}.{key}")
    return value


def _function_call(item: dict[str, Any], where: str) -> ToolCall:
    call_id = _string(item, "call_id", where, 256)
    name = _string(item, "name", where, 64)
    arguments = item.get("arguments", "{}")
    if not isinstance(arguments, str):
        raise _bad(f"'{where}.arguments' must be a JSON string.", f"{where}.arguments")
    return ToolCall(call_id_in(call_id), name, call_arguments(arguments or "{}"))


def _function_call_output(item: dict[str, Any], where: str, calls: set[str]) -> Message:
    call_id = _string(item, "call_id", where, 256)
    if call_id_in(call_id) not in calls:
        raise _bad(
            f"'{where}.call_id' {call_id[:100]!r} matches no function_call earlier in the "
            "conversation (the input or the previous response).",
            f"{where}.call_id",
        )
    output = item.get("output")
    if isinstance(output, list):  # content parts: text only
        output = _content_text("user", output, where, "output")
    if not isinstance(output, str):
        raise _bad(f"'{where}.output' must be a string or input_text parts.", f"{where}.output")
    return Message("tool", (output,), tool_call_id=call_id_in(call_id))


def conversation_items(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages as Responses input items (what a stored response's conversation holds).

    :func:`input_messages` reads them back; records stored before function tools existed (only
    message items) read back the same way.
    """
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": call_id_out(m.tool_call_id or ""),
                    "output": m.text(),
                }
            )
            continue
        if m.text() or not m.tool_calls:
            items.append({"type": "message", "role": m.role, "content": m.text()})
        for call in m.tool_calls:
            item = function_call_item(call)
            del item["id"], item["status"]
            items.append(item)
    return items


def answer_message(result: CompletionResult) -> Message:
    """The model's answer as a domain message (its text, then its calls)."""
    return Message("assistant", (result.text,), tool_calls=tuple(result.tool_calls))


def call_ids(messages: Iterable[Message]) -> set[str]:
    """The ids of every call the messages' assistant turns made."""
    return {c.id for m in messages for c in m.tool_calls}


#: Response statuses this service produces.
Status = Literal["completed", "incomplete"]
