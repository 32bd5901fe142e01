"""OpenAI output controls the CLI has no flag for: ``stop`` sequences and ``response_format``.

Both are applied by the service around the CLI call:

- ``stop``: the answer is cut before the first stop sequence (``finish_reason: "stop"``). The
  model still generates its whole answer upstream, so the usage (and the cost) is that of the
  whole answer; a stream just stops sending text at the stop sequence.
- ``response_format``: ``json_object`` and ``json_schema`` add an instruction to the system
  prompt (with the schema, for ``json_schema``), and a non-streamed answer wrapped in a Markdown
  code fence is unwrapped. Claude follows such instructions reliably, but nothing here can
  *guarantee* valid JSON the way OpenAI's constrained decoding does: validate what you parse.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

from claude_code_api.domain import CallOptions, CompletionResult

__all__ = [
    "StopScanner",
    "cut_at_stop",
    "find_stop",
    "format_instruction",
    "shape_result",
    "unwrap_json",
]

_FENCED = re.compile(r"\A\s*```[a-zA-Z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```\s*\Z", re.DOTALL)


def format_instruction(kind: str, schema: dict[str, Any] | None = None) -> str | None:
    """The system-prompt instruction for a ``response_format`` type (``None`` for ``text``)."""
    if kind == "json_object":
        return (
            "Respond with a single valid JSON object and nothing else: no prose before or "
            "after it, no Markdown code fence."
        )
    if kind == "json_schema":
        schema_text = json.dumps(schema or {}, separators=(",", ":"), sort_keys=True)
        return (
            "Respond with a single JSON value that is valid against this JSON Schema, and "
            "nothing else: no prose before or after it, no Markdown code fence.\n"
            f"JSON Schema: {schema_text}"
        )
    return None


def unwrap_json(text: str) -> str:
    """Strip a Markdown code fence around an answer (```json ... ```), if that is all it is."""
    match = _FENCED.match(text)
    return match.group("body").strip() if match else text


def find_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """Where the earliest stop sequence starts in ``text``, and which one (``None``: none)."""
    found = [(i, s) for s in stops if s and (i := text.find(s)) >= 0]
    return min(found) if found else None


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop sequence, and whether one was found."""
    hit = find_stop(text, stops)
    return (text[: hit[0]], True) if hit is not None else (text, False)


class StopScanner:
    """Cuts a stream of text deltas at the first stop sequence.

    Text that could be the beginning of a stop sequence is held back (at most the longest stop
    sequence minus one character) until the next delta decides; :meth:`finish` releases it.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._pending = ""
        self.stopped = False
        self.matched: str | None = None  # the stop sequence that ended the stream

    def feed(self, delta: str) -> str:
        """The part of ``delta`` (plus held-back text) that can be sent now."""
        if self.stopped:
            return ""
        text = self._pending + delta
        hit = find_stop(text, self.stops)
        if hit is not None:
            # A longer stop sequence that starts earlier may still complete with the next
            # delta ("a" found in " a", but " aa" may follow): the earliest start wins, so
            # hold back from there and decide later.
            open_at = self._open_prefix(text, before=hit[0])
            if open_at is None:
                self.stopped, self.matched, self._pending = True, hit[1], ""
                return text[: hit[0]]
            self._pending = text[open_at:]
            return text[:open_at]
        keep = len(text) - self._hold if self._hold else len(text)
        keep = max(keep, 0)
        self._pending = text[keep:]
        return text[:keep]

    def _open_prefix(self, text: str, *, before: int) -> int | None:
        """The earliest position < ``before`` where ``text`` ends inside a possible stop."""
        for start in range(max(0, len(text) - self._hold), before):
            tail = text[start:]
            if any(len(s) > len(tail) and s.startswith(tail) for s in self.stops):
                return start
        return None

    def finish(self) -> str:
        """The held-back text, up to a stop sequence in it, once the stream has ended."""
        rest, self._pending = self._pending, ""
        if self.stopped:
            return ""
        hit = find_stop(rest, self.stops)
        if hit is not None:
            self.stopped, self.matched = True, hit[1]
            return rest[: hit[0]]
        return rest


def shape_result(result: CompletionResult, options: CallOptions) -> CompletionResult:
    """Apply ``stop`` and the output format to a finished answer (chat-style surfaces)."""
    text, cut = cut_at_stop(result.text, options.stop)
    fmt = options.output_format
    if fmt is not None and fmt.type != "text":
        text = unwrap_json(text)
    if text == result.text and not cut:
        return result
    stop = "stop" if cut and not result.tool_calls else result.stop_reason
    return dataclasses.replace(result, text=text, stop_reason=stop)
