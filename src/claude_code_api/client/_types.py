"""Response models: small frozen dataclasses built from the service's JSON (no pydantic, so the
client stays light). Unknown fields are ignored, missing optional ones get neutral defaults, so
a newer server never breaks an older client."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BatchItemResult",
    "BatchResult",
    "Completion",
    "ErrorInfo",
    "MessageParam",
    "Model",
    "ModelUsage",
    "RouteDecision",
    "TokenUsage",
    "ToolCall",
    "ToolParam",
    "Usage",
]

#: One chat message, e.g. ``{"role": "user", "content": "Hi"}`` (roles: system, user, assistant,
#: and ``tool`` for a tool's result, see :meth:`ToolCall.result`).
MessageParam = Mapping[str, Any]
#: One client tool, in OpenAI's shape: ``{"type": "function", "function": {"name": "get_weather",
#: "description": "...", "parameters": {JSON schema of an object}}}``.
ToolParam = Mapping[str, Any]


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) else 0


def _float(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens and cost of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TokenUsage:
        """Parse the ``usage`` object of a completion or of the last stream chunk."""
        data = data or {}
        return cls(
            prompt_tokens=_int(data, "prompt_tokens"),
            completion_tokens=_int(data, "completion_tokens"),
            total_tokens=_int(data, "total_tokens"),
            cost_usd=_float(data, "cost_usd"),
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model made; the tool runs on the client.

    ``arguments`` is the JSON string the server sent (as OpenAI sends it); :attr:`args` parses
    it. Answer the call with :meth:`result`::

        done = client.chat(messages, tools=tools)
        messages.append(done.message)
        messages += [call.result(run(call.name, call.args)) for call in done.tool_calls]
        client.chat(messages, tools=tools)
    """

    id: str
    name: str
    arguments: str = "{}"

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed (``{}`` when empty; ``ValueError`` when not a JSON object)."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"The arguments of tool call {self.id} are not a JSON object.")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The call as an assistant message's ``tool_calls`` entry."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def result(self, content: str, *, is_error: bool = False) -> dict[str, Any]:
        """The ``role: "tool"`` message answering this call (``is_error`` marks a failure)."""
        message: dict[str, Any] = {"role": "tool", "tool_call_id": self.id, "content": content}
        if is_error:
            message["is_error"] = True
        return message

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """Parse one ``tool_calls`` entry."""
        function = data.get("function") or {}
        return cls(
            id=str(data.get("id") or ""),
            name=str(function.get("name") or ""),
            arguments=str(function.get("arguments") or "{}"),
        )


def assistant_message(content: str, tool_calls: Sequence[ToolCall]) -> dict[str, Any]:
    """The assistant message to put back into the history (content null with only calls)."""
    if not tool_calls:
        return {"role": "assistant", "content": content}
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [c.to_dict() for c in tool_calls],
    }


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer. ``str(completion)`` is its text.

    ``model`` is the model that actually answered (``auto`` resolved by the router), ``cached``
    says the answer came from the response cache (and cost nothing), ``request_id`` is the
    server's id for the HTTP request. ``tool_calls`` holds the model's calls of client tools
    (``finish_reason == "tool_calls"``); :attr:`message` is the reply to append to the history.
    """

    content: str
    model: str
    usage: TokenUsage
    cached: bool = False
    id: str = ""
    finish_reason: str | None = None
    request_id: str | None = None
    created: int = 0
    tool_calls: tuple[ToolCall, ...] = ()

    def __str__(self) -> str:
        return self.content

    @property
    def message(self) -> dict[str, Any]:
        """This answer as the assistant message of the conversation's next request."""
        return assistant_message(self.content, self.tool_calls)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Completion:
        """Parse a ``chat.completion`` object (and, if given, the response headers)."""
        headers = headers or {}
        choices = data.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], Mapping) else {}
        message = choice.get("message") or {}
        usage = data.get("usage") or {}
        cached = bool(usage.get("cached")) or headers.get("x-ccapi-cache") == "hit"
        return cls(
            content=str(message.get("content") or ""),
            model=str(data.get("model") or headers.get("x-ccapi-model") or ""),
            usage=TokenUsage.from_dict(usage),
            cached=cached,
            id=str(data.get("id") or ""),
            finish_reason=choice.get("finish_reason"),
            request_id=headers.get("x-request-id"),
            created=_int(data, "created"),
            tool_calls=tuple(
                ToolCall.from_dict(c)
                for c in message.get("tool_calls") or []
                if isinstance(c, dict)
            ),
        )


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The error of one failed batch item (OpenAI's error fields)."""

    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """Parse an ``error`` object."""
        return cls(
            message=str(data.get("message") or "error"),
            type=data.get("type"),
            code=data.get("code"),
            param=data.get("param"),
        )


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """One item of a batch: ``completion`` when ``ok``, else ``error``."""

    index: int
    ok: bool
    completion: Completion | None = None
    error: ErrorInfo | None = None

    @property
    def content(self) -> str | None:
        """The answer's text, or ``None`` when this item failed."""
        return self.completion.content if self.completion else None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Results of :meth:`ClaudeClient.batch`, in request order; iterable and indexable."""

    results: list[BatchItemResult]
    total_tokens: int = 0
    total_cost: float = 0.0
    succeeded: int = 0
    failed: int = 0

    def __iter__(self) -> Iterator[BatchItemResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> BatchItemResult:
        return self.results[index]

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> BatchResult:
        """Parse a ``/v1/batch`` response."""
        items = []
        for raw in data.get("results") or []:
            response, error = raw.get("response"), raw.get("error")
            items.append(
                BatchItemResult(
                    index=_int(raw, "index"),
                    ok=bool(raw.get("ok")),
                    completion=Completion.from_dict(response, headers) if response else None,
                    error=ErrorInfo.from_dict(error) if error else None,
                )
            )
        ok = sum(1 for item in items if item.ok)
        return cls(
            results=items,
            total_tokens=_int(data, "total_tokens"),
            total_cost=_float(data, "total_cost"),
            succeeded=int(data.get("succeeded", ok)),
            failed=int(data.get("failed", len(items) - ok)),
        )


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Usage totals of one model."""

    tokens: int = 0
    cost: float = 0.0
    requests: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    """A project's usage over a period (``day``, ``week``, ``month`` or ``all``)."""

    project_id: str
    period: str
    total_tokens: int = 0
    total_cost: float = 0.0
    requests: int = 0
    by_model: dict[str, ModelUsage] = field(default_factory=dict)
    monthly_limit: int | None = None
    remaining: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Parse a ``/v1/usage`` response."""
        by_model = {
            str(name): ModelUsage(
                tokens=_int(m, "tokens"), cost=_float(m, "cost"), requests=_int(m, "requests")
            )
            for name, m in (data.get("by_model") or {}).items()
        }
        return cls(
            project_id=str(data.get("project_id") or ""),
            period=str(data.get("period") or ""),
            total_tokens=_int(data, "total_tokens"),
            total_cost=_float(data, "total_cost"),
            requests=_int(data, "requests"),
            by_model=by_model,
            monthly_limit=data.get("monthly_limit"),
            remaining=data.get("remaining"),
        )


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The router's recommendation for a task (``/v1/route``)."""

    recommended_model: str
    reasoning: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
    estimated_cost: dict[str, float] = field(default_factory=dict)
    #: The learned router's probability that only the strong tier answers well (else None).
    probability: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteDecision:
        """Parse a ``/v1/route`` response."""
        probability = data.get("probability")
        return cls(
            recommended_model=str(data.get("recommended_model") or ""),
            reasoning=str(data.get("reasoning") or ""),
            signals=dict(data.get("signals") or {}),
            estimated_cost={k: float(v) for k, v in (data.get("estimated_cost") or {}).items()},
            probability=None if probability is None else float(probability),
        )


@dataclass(frozen=True, slots=True)
class Model:
    """One entry of ``/v1/models``."""

    id: str
    created: int = 0
    owned_by: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Parse a model card."""
        return cls(
            id=str(data.get("id") or ""),
            created=_int(data, "created"),
            owned_by=str(data.get("owned_by") or ""),
        )
