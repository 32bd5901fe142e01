"""Plain data shared by every layer: what a call asks for and what it produced.

The API surfaces translate their request schemas into :class:`Message` and
:class:`CallOptions`; the application layer turns those into a :class:`TaskRequest` for the
executor and hands back a :class:`CompletionResult`. Nothing here knows an API's wire shape.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


class Mode(enum.StrEnum):
    """How the CLI runs a task."""

    #: ``--tools "" --system-prompt ...``: ~0.3 KB overhead, no tool can touch the server.
    CHAT = "chat"
    #: Plain ``claude -p`` with its tools, only when a request explicitly opts in.
    AGENT = "agent"


#: Who speaks a message (``developer`` is OpenAI's newer name for ``system``).
Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Image:
    """An image in a user message, as an Anthropic image ``source`` (base64 or url)."""

    source: dict[str, str]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: text pieces and images, in order."""

    role: Role
    parts: tuple[str | Image, ...]
    #: Assistant messages: the tool calls the model made.
    tool_calls: tuple[ToolCall, ...] = ()
    #: Tool messages: the call this result answers, and whether it is an error.
    tool_call_id: str | None = None
    is_error: bool = False

    @classmethod
    def of(cls, role: Role, text: str) -> Message:
        """A text-only message."""
        return cls(role, (text,))

    def text(self, image_marker: str = "") -> str:
        """The message's text with parts joined; each image becomes ``image_marker``."""
        return "".join(p if isinstance(p, str) else image_marker for p in self.parts)

    def images(self) -> list[dict[str, str]]:
        """The image sources of the message, in order."""
        return [p.source for p in self.parts if isinstance(p, Image)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a task's history on the distributed queue)."""
        return {
            "role": self.role,
            "parts": [p if isinstance(p, str) else {"source": p.source} for p in self.parts],
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "tool_call_id": self.tool_call_id,
            "is_error": self.is_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["role"],
            tuple(p if isinstance(p, str) else Image(p["source"]) for p in data["parts"]),
            tool_calls=tuple(ToolCall(**c) for c in data.get("tool_calls", [])),
            tool_call_id=data.get("tool_call_id"),
            is_error=bool(data.get("is_error", False)),
        )


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """The answer's requested format: ``json_object`` or ``json_schema`` (with its schema)."""

    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Thinking:
    """What a request asked for: ``budget`` (``0`` off, ``None`` the CLI's default) and the
    CLI's ``effort`` (``None``: its default). Built by :mod:`claude_code_api.thinking`."""

    budget: int | None = 0
    effort: str | None = None

    @classmethod
    def default(cls, mode: str) -> Thinking:
        """No request field: off in chat mode, the CLI's own behaviour in agent mode."""
        return cls(0, None) if mode == "chat" else cls(None, None)


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How to run a conversation, whatever API it came from."""

    model: str = "auto"
    project_id: str | None = None  # None: the API key's own project
    max_tokens: int | None = None  # None: the server's default output limit
    temperature: float | None = None  # accepted, not honoured; part of the cache key
    stop: tuple[str, ...] = ()
    output_format: OutputFormat | None = None
    use_cache: bool = True
    mode: Mode = Mode.CHAT
    thinking: Thinking | None = None  # None: the mode's default (off in chat mode)
    tools: tuple[ToolSpec, ...] = ()  # client tools
    tool_choice: str = "auto"  # auto, none, required or a tool's name
    parallel_tool_calls: bool = True


@dataclass(slots=True)
class Usage:
    """Tokens and cost of one completion."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    #: Of ``output_tokens``, those spent thinking: the upstream bills them as output and does
    #: not count them apart, so this is the shared estimate of the streamed thinking text.
    thinking_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """All input-side tokens (OpenAI's ``prompt_tokens``)."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(slots=True)
class ToolSpec:
    """A client-side tool offered to the model (run by the client, never on the server).

    ``input_schema`` is a JSON-schema object; ``strict`` asks for the model's arguments to be
    validated against it (failures are reported on the call, see :class:`ToolCall`).
    """

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    strict: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(slots=True)
class ToolCall:
    """One tool call the model made: ``id`` is the model's ``tool_use`` id.

    ``error`` is set when the arguments did not parse as a JSON object or (``strict`` tools)
    failed the tool's schema; the call is still returned so the client can answer it.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(slots=True)
class ToolResult:
    """A client's answer to one :class:`ToolCall`."""

    tool_call_id: str
    content: str
    is_error: bool = False


@dataclass(slots=True)
class TaskRequest:
    """Everything needed to run one CLI call. ``prompt`` is sent on stdin, never in argv."""

    prompt: str
    model: str = "sonnet"
    project_id: str = "default"
    system_prompt: str | None = None
    max_tokens: int | None = None
    mode: Mode = Mode.CHAT
    timeout: float | None = None
    max_budget_usd: float | None = None  # agent mode only (see DEVELOPERS.md)
    #: Anthropic image sources (``{"type": "base64", ...}`` or ``{"type": "url", ...}``) sent
    #: after the prompt's text; the CLI then reads a stream-json user message on stdin.
    images: list[dict[str, str]] = field(default_factory=list)
    #: Extended thinking: ``0`` off (the chat-mode default: a chat caller expects none unless it
    #: asks), ``N`` a budget of N tokens (the CLI's ``MAX_THINKING_TOKENS``; haiku honours the
    #: number, sonnet/opus think adaptively and are sized by ``effort``), ``None`` the CLI's
    #: own default (haiku 31,999 tokens, sonnet/opus adaptive at effort high).
    thinking_budget: int | None = 0
    #: The CLI's ``--effort`` (``low``/``medium``/``high``/``max``; sonnet and opus only).
    effort: str | None = None
    #: Client tools offered through the MCP bridge (chat mode); empty: no tools at all.
    tools: list[ToolSpec] = field(default_factory=list)
    #: ``"auto"``, ``"required"`` or a tool name the model must call ("none" = offer no tools).
    tool_choice: str = "auto"
    parallel_tool_calls: bool = True
    #: Results for the model's last tool calls: resume the run suspended on them, if it is
    #: still there (else ``prompt`` holds the whole conversation, tool turns rendered).
    tool_results: list[ToolResult] = field(default_factory=list)
    #: The conversation's earlier turns (user, assistant with its tool calls, tool results;
    #: never system), ending with an assistant or tool turn. Non-empty: the runner rebuilds a
    #: CLI session from them and resumes it (``--resume``), so they reach the model as real
    #: turns and ``prompt`` is only the new user message (see ``workers/session_file.py``).
    history: list[Message] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by the distributed queue)."""
        data = asdict(self)
        data["mode"] = self.mode.value
        data["history"] = [m.to_dict() for m in self.history]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRequest:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["mode"] = Mode(data.get("mode", "chat"))
        data["tools"] = [ToolSpec(**t) for t in data.get("tools", [])]
        data["tool_results"] = [ToolResult(**r) for r in data.get("tool_results", [])]
        data["history"] = [Message.from_dict(m) for m in data.get("history", [])]
        return cls(**data)


class TextDelta(str):
    """The first text delta of a stream, naming the model that is answering.

    The CLI names its model (the full id an alias resolved to) in its ``system``/``init`` and
    ``message_start`` events, before any text; this carries it to the surfaces that show a model
    on every chunk, so they need not wait for the final result. It is a ``str``, so everything
    that handles "text deltas, then one :class:`CompletionResult`" keeps working unchanged::

        >>> delta = TextDelta("Hello", model="claude-haiku-4-5")
        >>> delta + " world", delta.model
        ('Hello world', 'claude-haiku-4-5')
    """

    model: str

    def __new__(cls, text: str, model: str) -> TextDelta:
        """A delta of ``text`` from ``model``."""
        self = super().__new__(cls, text)
        self.model = model
        return self

    def __reduce__(self) -> tuple[type[TextDelta], tuple[str, str]]:
        return (TextDelta, (str(self), self.model))


def model_of(item: object, default: str) -> str:
    """The model an item of a completion stream names (``default`` when it names none)."""
    if isinstance(item, TextDelta | CompletionResult):
        return item.model or default
    return default


@dataclass(slots=True)
class CompletionResult:
    """What a finished CLI call produced."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    session_id: str = ""
    duration_ms: int = 0
    num_turns: int = 0
    stop_reason: str = "stop"  # OpenAI finish_reason: "stop", "length" or "tool_calls"
    cached: bool = False
    #: The model's tool calls of this turn (``stop_reason == "tool_calls"``).
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: Set while a CLI process waits for the results of ``tool_calls`` (a suspended run).
    suspended: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (cache entries, queue results)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompletionResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["usage"] = Usage(**data.get("usage", {}))
        data["tool_calls"] = [ToolCall(**c) for c in data.get("tool_calls", [])]
        return cls(**data)
