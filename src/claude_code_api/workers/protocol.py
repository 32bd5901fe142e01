"""The CLI's ``stream-json`` output: line parsing, the final result, error classification.

No I/O here: :class:`StreamParser` is fed stdout lines by the runner (or a whole captured output
by :func:`claude_code_api.token_tracker.parse_claude_output`) and turns them into text deltas and
one :class:`~claude_code_api.domain.CompletionResult`, or one typed error.

Facts this relies on (verified against the real CLI 2.1.x, see DEVELOPERS.md):

- text arrives as ``stream_event`` / ``content_block_delta`` / ``text_delta`` lines and the run
  ends with one ``{"type": "result", ...}`` line; a missing result is an error, never ``""``.
- when the upstream stops at ``max_tokens`` the CLI does not finish: it asks the model to
  continue (up to 3 more paid calls) and then reports ``is_error`` "exceeded the N output token
  maximum". OpenAI semantics are "truncate and say ``finish_reason: length``", so the parser
  flags :attr:`StreamParser.truncated` on the first ``message_delta`` with
  ``stop_reason: max_tokens`` and the runner stops the CLI there.
- with client tools (MCP, see :mod:`~claude_code_api.workers.tool_bridge`) a turn that ends in
  ``stop_reason: tool_use`` has all its ``tool_use`` blocks streamed (``content_block_start``,
  ``input_json_delta`` fragments) before ``message_stop``, and only then does the CLI call the
  tools: :attr:`StreamParser.tool_turn` is set there, and :meth:`StreamParser.tool_turn_result`
  returns the calls. ``usage`` and ``total_cost_usd`` of the final ``result`` event count every
  turn of the process, so the turns already reported are subtracted from it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from claude_code_api.domain import CompletionResult, TextDelta, ToolCall, Usage
from claude_code_api.errors import (
    CLIBudgetCapError,
    CLIOutputError,
    CLIResultError,
    UpstreamAuthError,
    UpstreamOverloadedError,
    UpstreamRateLimitError,
)
from claude_code_api.pricing import PriceTable
from claude_code_api.tokens import estimate_tokens

log = logging.getLogger(__name__)

_SECRETS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|auth[_-]?token|password)\s*[:=]\s*)\S+"),
]
_LENGTH_ERROR = re.compile(r"exceeded the \d+ output token maximum")


def redact(text: str) -> str:
    """Replace anything that looks like a key or a bearer token with ``[REDACTED]``.

    >>> redact("key sk-ant-api03-abc and Authorization: Bearer xyz")
    'key [REDACTED] and Authorization: Bearer [REDACTED]'
    """
    text = _SECRETS[0].sub("[REDACTED]", text)
    for pattern in _SECRETS[1:]:
        text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
    return text


def summarize_stderr(data: bytes, limit: int = 600) -> str:
    """The last non-empty stderr lines, redacted, at most ``limit`` characters."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    text = " | ".join(line for line in lines if line)
    if len(text) > limit:
        text = "…" + text[-limit:]
    return redact(text)


def classify_result_error(event: dict[str, Any], detail: str = "") -> CLIResultError:
    """The typed error for a ``result`` event with ``is_error: true``.

    Told apart by ``subtype`` (budget cap), ``api_error_status`` and, when the CLI gives no
    status, the result text.
    """
    subtype = str(event.get("subtype") or "")
    status = event.get("api_error_status")
    status = status if isinstance(status, int) else None
    text = redact(str(event.get("result") or ""))
    lowered = text.lower()
    kwargs: dict[str, Any] = {"subtype": subtype, "api_error_status": status, "detail": detail}
    if subtype == "error_max_budget_usd":
        return CLIBudgetCapError("The CLI's --max-budget-usd cap was reached.", **kwargs)
    if status == 529 or "overloaded" in lowered:
        return UpstreamOverloadedError(f"Anthropic is overloaded: {text}", **kwargs)
    if status == 429 or "rate limit" in lowered or "rate_limit" in lowered:
        return UpstreamRateLimitError(f"Anthropic rate-limited the CLI: {text}", **kwargs)
    if status in (401, 403) or any(
        hint in lowered
        for hint in ("authenticate", "invalid api key", "x-api-key", "not logged in", "/login")
    ):
        return UpstreamAuthError(f"The CLI could not authenticate: {text}", **kwargs)
    return CLIResultError(f"The CLI reported an error: {text or subtype}", **kwargs)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from(raw: dict[str, Any]) -> Usage:
    """A :class:`Usage` from the CLI's ``usage`` object (snake_case keys)."""
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_creation_input_tokens=_int(raw.get("cache_creation_input_tokens")),
        cache_read_input_tokens=_int(raw.get("cache_read_input_tokens")),
    )


def model_from(event: dict[str, Any], default: str) -> str:
    """The full model id that did the work: the ``modelUsage`` key with most output tokens."""
    model_usage = event.get("modelUsage")
    if isinstance(model_usage, dict) and model_usage:
        return str(max(model_usage, key=lambda k: _int((model_usage[k] or {}).get("outputTokens"))))
    return default


class StreamParser:
    """Turns ``stream-json`` lines into text deltas and a final result.

    ``feed`` returns the text deltas found in one line. Lines that are not JSON are tolerated
    (the CLI and its hooks have been seen printing them) but counted in :attr:`bad_lines`.
    """

    def __init__(self, *, model: str, prices: PriceTable | None = None) -> None:
        self.model = model
        self.prices = prices or PriceTable()
        self.result_event: dict[str, Any] | None = None
        self.truncated = False
        self.bad_lines = 0
        self.lines = 0
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._message_text: list[str] = []
        self._message_usage = Usage()
        self._message_model = ""
        self._init_model = ""  # from the ``system``/``init`` event
        self._announced = False  # the first text delta (a TextDelta) was returned
        self._blocks: dict[int, dict[str, Any]] = {}  # tool_use blocks of the current message
        self._calls: list[dict[str, Any]] = []  # this turn's finished tool_use blocks
        self._stop_reason = ""
        self._turn_usage = Usage()
        self._billed = Usage()  # reported by earlier (tool) turns of this process
        self.tool_turn = False

    def start_turn(self) -> None:
        """Forget the last turn's text and calls (a suspended run is being resumed)."""
        self._message_text = []
        self._calls = []
        self._turn_usage = Usage()
        self.tool_turn = False

    @property
    def streamed_text(self) -> str:
        """All text deltas seen so far."""
        return "".join(self._text)

    def feed(self, line: str | bytes) -> list[str]:
        """Parse one stdout line; returns its text deltas (usually zero or one)."""
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.strip()
        if not line:
            return []
        self.lines += 1
        try:
            event = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            log.warning("claude printed a non-JSON line (%d so far)", self.bad_lines)
            return []
        if not isinstance(event, dict):
            self.bad_lines += 1
            return []
        kind = event.get("type")
        if kind == "result":
            self.result_event = event
        elif kind == "system" and event.get("subtype") == "init":
            self._init_model = str(event.get("model") or "")
        elif kind == "stream_event" and isinstance(event.get("event"), dict):
            return self._stream_event(event["event"])
        return []

    def _stream_event(self, event: dict[str, Any]) -> list[str]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._message_text = []
            self._blocks = {}
            self._message_usage = usage_from(message.get("usage") or {})
            self._message_model = str(message.get("model") or "")
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._blocks[_int(event.get("index"))] = {
                    "id": str(block.get("id") or ""),
                    "name": str(block.get("name") or ""),
                    "json": [],
                }
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                self._text.append(delta["text"])
                self._message_text.append(delta["text"])
                if not self._announced:
                    self._announced = True
                    model = self._message_model or self._init_model or self.model
                    return [TextDelta(delta["text"], model=model)]
                return [delta["text"]]
            if delta.get("type") == "thinking_delta" and isinstance(delta.get("thinking"), str):
                self._thinking.append(delta["thinking"])  # counted, never shown to the caller
            if delta.get("type") == "input_json_delta":
                block = self._blocks.get(_int(event.get("index")))
                if block is not None:
                    block["json"].append(str(delta.get("partial_json") or ""))
        elif kind == "content_block_stop":
            block = self._blocks.pop(_int(event.get("index")), None)
            if block is not None:
                self._calls.append(block)
        elif kind == "message_delta":
            usage = event.get("usage") or {}
            if "output_tokens" in usage:
                self._message_usage.output_tokens = _int(usage["output_tokens"])
            self._stop_reason = str((event.get("delta") or {}).get("stop_reason") or "")
            if self._stop_reason == "max_tokens":
                self.truncated = True
        elif kind == "message_stop":
            _add(self._turn_usage, self._message_usage)
            if self._stop_reason == "tool_use" and self._calls:
                self.tool_turn = True
        return []

    def tool_turn_result(self, prefix: str = "") -> CompletionResult:
        """The turn that ended in tool calls (names without ``prefix``), as a suspended result."""
        calls = [_tool_call(block, prefix) for block in self._calls]
        usage = self._turn_usage
        model = self._message_model or self.model
        usage.cost_usd = self.prices.usage_cost(model, usage)
        _add(self._billed, usage)
        self._billed.cost_usd += usage.cost_usd
        return CompletionResult(
            text="".join(self._message_text),
            model=model,
            usage=usage,
            stop_reason="tool_calls",
            tool_calls=calls,
            suspended=True,
        )

    def finish(self) -> CompletionResult:
        """The final result; raises a typed error when there is none or it is an error.

        Raises:
            CLIResultError: (or a subclass) the result has ``is_error: true``.
            CLIOutputError: no result event, or an empty answer although tokens were produced.
        """
        if self.truncated:
            return self._truncated_result()
        event = self.result_event
        if event is None:
            raise CLIOutputError(
                f"The CLI ended without a final result event ({self.lines} lines, "
                f"{self.bad_lines} not JSON)."
            )
        text = event.get("result")
        text = text if isinstance(text, str) else ""
        if event.get("is_error"):
            if _LENGTH_ERROR.search(text) and self._message_text:
                return self._truncated_result()
            raise classify_result_error(event)
        usage = _minus(usage_from(event.get("usage") or {}), self._billed)
        if not text:
            # Known CLI bug: an empty `result` although tokens were streamed.
            text = "".join(self._message_text) if self._billed.output_tokens else self.streamed_text
        if not text and usage.output_tokens > 0:
            raise CLIOutputError("The CLI reported output tokens but returned no text.")
        model = model_from(event, self.model)
        usage.thinking_tokens = self._thinking_tokens(usage.output_tokens, text)
        cost = event.get("total_cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            usage.cost_usd = max(0.0, float(cost) - self._billed.cost_usd)
        else:
            usage.cost_usd = self.prices.usage_cost(model, usage)
        return CompletionResult(
            text=text,
            model=model,
            usage=usage,
            session_id=str(event.get("session_id") or ""),
            duration_ms=_int(event.get("duration_ms")),
            num_turns=_int(event.get("num_turns")),
            stop_reason="stop",
        )

    def _thinking_tokens(self, output_tokens: int, text: str) -> int:
        # estimated from the streamed thinking text, at most the output the answer leaves
        if not self._thinking:
            return 0
        left = max(output_tokens - estimate_tokens(text), 0)
        return min(estimate_tokens("".join(self._thinking)), left)

    def _truncated_result(self) -> CompletionResult:
        usage = Usage(
            input_tokens=self._message_usage.input_tokens,
            output_tokens=self._message_usage.output_tokens,
            cache_creation_input_tokens=self._message_usage.cache_creation_input_tokens,
            cache_read_input_tokens=self._message_usage.cache_read_input_tokens,
        )
        model = self._message_model or self.model
        usage.cost_usd = self.prices.usage_cost(model, usage)
        usage.thinking_tokens = self._thinking_tokens(
            usage.output_tokens, "".join(self._message_text)
        )
        return CompletionResult(
            text="".join(self._message_text), model=model, usage=usage, stop_reason="length"
        )


def _add(total: Usage, more: Usage) -> None:
    total.input_tokens += more.input_tokens
    total.output_tokens += more.output_tokens
    total.cache_creation_input_tokens += more.cache_creation_input_tokens
    total.cache_read_input_tokens += more.cache_read_input_tokens


def _minus(usage: Usage, billed: Usage) -> Usage:
    return Usage(
        input_tokens=max(0, usage.input_tokens - billed.input_tokens),
        output_tokens=max(0, usage.output_tokens - billed.output_tokens),
        cache_creation_input_tokens=max(
            0, usage.cache_creation_input_tokens - billed.cache_creation_input_tokens
        ),
        cache_read_input_tokens=max(
            0, usage.cache_read_input_tokens - billed.cache_read_input_tokens
        ),
    )


def _tool_call(block: dict[str, Any], prefix: str) -> ToolCall:
    name = block["name"]
    if prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    raw = "".join(block["json"]).strip() or "{}"
    try:
        arguments = json.loads(raw)
    except ValueError:
        return ToolCall(id=block["id"], name=name, error=f"arguments are not valid JSON: {raw!r}")
    if not isinstance(arguments, dict):
        return ToolCall(id=block["id"], name=name, error="arguments are not a JSON object")
    return ToolCall(id=block["id"], name=name, arguments=arguments)
