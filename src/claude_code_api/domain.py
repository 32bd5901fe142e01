"""Plain data shared by the worker pool, token tracker, cache, storage and HTTP layers."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Mode(enum.StrEnum):
    """How the CLI runs a task."""

    #: ``--tools "" --system-prompt ...``: ~0.3 KB overhead, no tool can touch the server.
    CHAT = "chat"
    #: Plain ``claude -p`` with its tools, only when a request explicitly opts in.
    AGENT = "agent"


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by the distributed queue)."""
        data = asdict(self)
        data["mode"] = self.mode.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRequest:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["mode"] = Mode(data.get("mode", "chat"))
        return cls(**data)


@dataclass(slots=True)
class CompletionResult:
    """What a finished CLI call produced."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    session_id: str = ""
    duration_ms: int = 0
    num_turns: int = 0
    stop_reason: str = "stop"  # OpenAI finish_reason: "stop" or "length"
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (cache entries, queue results)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompletionResult:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["usage"] = Usage(**data.get("usage", {}))
        return cls(**data)
