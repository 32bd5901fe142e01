"""A fake Anthropic Messages API on 127.0.0.1, enough for the real ``claude`` binary.

It answers ``POST /v1/messages`` as JSON or as SSE (``message_start`` … ``message_stop``),
records every request it receives (so tests can assert ``max_tokens``, the model, the system
prompt, that chat mode sends no tools) and answers anything else the binary asks for with an
empty 200/404 so nothing reaches the network. A threaded stdlib server is used on purpose: it
runs outside any event loop, so sync and async tests (and the openai SDK end-to-end test) can
share it.

    with FakeAnthropic() as upstream:
        env = upstream.cli_env(home=tmp_path)   # ANTHROPIC_BASE_URL, fake key, HOME
        ...run claude...
        assert upstream.messages[-1].body["max_tokens"] == 64

Tools: when a request offers tools, the default responder answers like Anthropic's API with
``tool_use`` blocks (streamed as ``input_json_delta`` fragments) as the prompt's markers ask
(:func:`tool_plan`, the same markers the simulated CLI reads), and with text once the
``tool_result`` blocks come back.

Prompt caching: every instance keeps its own :class:`~tests.fakes.prompt_cache.PromptCache`
(``upstream.prompt_cache``) and reports Anthropic's accounting in ``usage``
(``input_tokens`` is the uncached rest, plus ``cache_creation_input_tokens`` and
``cache_read_input_tokens``), in ``message_start`` and again in ``message_delta`` as the real
API does. Tokens are characters / 4 of the request's blocks (tools, system, messages).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes.prompt_cache import CacheControlError, CacheUsage, PromptCache, total_tokens

DEFAULT_REPLY = "Hello from the fake Anthropic upstream. It answers every request alike."


@dataclass(slots=True)
class Reply:
    """What the fake answers to one ``/v1/messages`` call."""

    text: str = DEFAULT_REPLY
    status: int = 200
    error_type: str = ""  # e.g. "overloaded_error", "rate_limit_error", "authentication_error"
    input_tokens: int | None = None  # None: the prompt cache's uncached rest of the request
    cache_read_tokens: int | None = None  # None: what the prompt cache read
    chunks: int = 4  # content_block_delta events in a streaming answer
    thinking: str = ""  # a thinking block streamed before the text (its words count as output)
    #: ``tool_use`` blocks to answer with (``(name, input)``; the name as offered upstream).
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: With ``tool_calls``: a text block the model writes before them ("" none).
    preamble: str = ""


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None

    @property
    def tools(self) -> list[Any]:
        """Tools sent with a messages call ([] when none)."""
        return list((self.body or {}).get("tools") or [])

    @property
    def system_text(self) -> str:
        """The system prompt, flattened to text."""
        system = (self.body or {}).get("system") or ""
        if isinstance(system, str):
            return system
        return "".join(block.get("text", "") for block in system if isinstance(block, dict))


Responder = Callable[[dict[str, Any]], Reply]


def word_tokens(text: str) -> list[str]:
    """Split a reply into 'tokens' (words with their trailing space) for max_tokens handling."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


#: ``[[call:NAME {json args}]]`` (step 1) or ``[[call2:NAME]]`` (step 2, after the first results).
CALL_MARKER = re.compile(r"\[\[call(\d*):([A-Za-z0-9_-]+)\s*(\{.*?\})?\]\]", re.S)
#: How the service renders one round of earlier tool results in a rebuilt prompt.
RESULTS_OPEN = "<tool_results>"


def sample_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a call the prompt gave none for: a value of the right type per required
    property (``"sample"``, 1, true, [], {})."""
    samples = {"string": "sample", "integer": 1, "number": 1, "boolean": True, "array": []}
    props = schema.get("properties") or {}
    return {
        name: samples.get(str((props.get(name) or {}).get("type")), {})
        for name in schema.get("required") or []
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def _results_of(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def tool_plan(
    messages: list[dict[str, Any]], offered: list[str]
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """What a tool-using model does with this conversation: ``(calls, results)``.

    ``calls`` are the marker calls of the next step (step = tool-result rounds so far + 1),
    for offered tools only (``offered`` may carry an ``mcp__server__`` prefix); ``results`` are
    the texts of the last round's results (real ``tool_result`` blocks or a rendered round).
    """
    user_texts = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    rounds = sum(1 for m in messages if m.get("role") == "user" and _results_of(m.get("content")))
    rounds += sum(text.count(RESULTS_OPEN) for text in user_texts)
    step = rounds + 1
    by_name = {name.rsplit("__", 1)[-1]: name for name in offered}
    calls = []
    for match in CALL_MARKER.finditer("\n".join(user_texts)):
        if int(match.group(1) or 1) != step or match.group(2) not in by_name:
            continue
        args = json.loads(match.group(3)) if match.group(3) else None
        calls.append((by_name[match.group(2)], args))
    results: list[str] = []
    last = messages[-1] if messages else {}
    for block in _results_of(last.get("content")):
        content = block.get("content")
        results.append(content if isinstance(content, str) else _text_of(content))
    return [(name, args if args is not None else {}) for name, args in calls], results


def default_responder(body: dict[str, Any]) -> Reply:
    """The fake's model: text, or tool calls as the prompt's markers ask (see module doc)."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    if not tools:
        return Reply()
    schemas = {str(t.get("name")): t.get("input_schema") or {} for t in tools}
    calls, results = tool_plan(body.get("messages") or [], list(schemas))
    if calls:
        return Reply(
            tool_calls=[(name, args or sample_arguments(schemas[name])) for name, args in calls]
        )
    if results:
        return Reply(text="Tool results: " + " | ".join(results))
    return Reply()


def _usage(cache: CacheUsage, reply: Reply, output_tokens: int) -> dict[str, Any]:
    """``usage`` of an answer: the cache's accounting unless the reply overrides a field."""
    usage = cache.to_usage()
    if reply.input_tokens is not None:
        usage["input_tokens"] = reply.input_tokens
    if reply.cache_read_tokens is not None:
        usage["cache_read_input_tokens"] = reply.cache_read_tokens
    usage["output_tokens"] = output_tokens
    return usage


def _delta_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """``message_delta``'s cumulative usage (the real API repeats the input side there)."""
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return {**{k: usage[k] for k in keys}, "output_tokens": usage["output_tokens"]}


class FakeAnthropic:
    """The fake server. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self, responder: Responder | None = None, *, prompt_cache: PromptCache | None = None
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.prompt_cache = prompt_cache or PromptCache()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL to put in ``ANTHROPIC_BASE_URL``."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeAnthropic:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests ------------------------------------------------------------------
    def cli_env(self, home: Path, **extra: str) -> dict[str, str]:
        """Environment that points the real CLI at this server, offline, with a fake key."""
        return {
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-test-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "HOME": str(home),
            **extra,
        }

    @property
    def messages(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` calls received so far (count_tokens excluded)."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == "/v1/messages"]

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(RecordedRequest(self.command, self.path, headers, body))

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._record(None)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(None)
        self._send_json(
            404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}}
        )

    def do_POST(self) -> None:
        body = self._read_body()
        self._record(body)
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": total_tokens(body or {})})
            return
        if path != "/v1/messages" or not isinstance(body, dict):
            self._send_json(
                404,
                {"type": "error", "error": {"type": "not_found_error", "message": "unknown route"}},
            )
            return
        reply = self.fake.responder(body)
        if reply.status != 200:
            self._send_json(
                reply.status,
                {
                    "type": "error",
                    "error": {
                        "type": reply.error_type or "api_error",
                        "message": f"fake {reply.status}",
                    },
                },
            )
            return
        try:
            cache = self.fake.prompt_cache.account(body)
        except CacheControlError as exc:
            self._send_json(
                400,
                {"type": "error", "error": {"type": "invalid_request_error", "message": str(exc)}},
            )
            return
        self._answer(body, reply, cache)

    def _answer(self, body: dict[str, Any], reply: Reply, cache: CacheUsage) -> None:
        if reply.tool_calls:
            self._answer_tools(body, reply, cache)
            return
        tokens = word_tokens(reply.text)
        limit = int(body.get("max_tokens") or len(tokens))
        stop_reason = "end_turn"
        if len(tokens) > limit:
            tokens, stop_reason = tokens[:limit], "max_tokens"
        text = "".join(tokens)
        output_tokens = len(tokens) + (len(word_tokens(reply.thinking)) if reply.thinking else 0)
        usage = _usage(cache, reply, output_tokens)
        message = {
            "id": f"msg_{uuid.uuid4().hex[:16]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-4-5"),
            "content": (
                [{"type": "thinking", "thinking": reply.thinking, "signature": "sig"}]
                if reply.thinking
                else []
            )
            + [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            self._send_json(200, message)
            return
        self._stream(message, tokens, reply.chunks, reply.thinking)

    def _answer_tools(self, body: dict[str, Any], reply: Reply, cache: CacheUsage) -> None:
        blocks = [
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:20]}",
                "name": name,
                "input": args,
            }
            for name, args in reply.tool_calls
        ]
        output_tokens = sum(len(json.dumps(b["input"])) // 4 + 8 for b in blocks)
        words = word_tokens(reply.preamble) if reply.preamble else []
        output_tokens += len(words)
        text_block = [{"type": "text", "text": reply.preamble}] if reply.preamble else []
        message = {
            "id": f"msg_{uuid.uuid4().hex[:16]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-sonnet-4-5"),
            "content": text_block + blocks,
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": _usage(cache, reply, output_tokens),
        }
        if not body.get("stream"):
            self._send_json(200, message)
            return
        self._start_sse()
        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        if text_block:  # the text block first, streamed word by word
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for word in words:
                delta = {"type": "text_delta", "text": word}
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": 0, "delta": delta},
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        for index, block in enumerate(blocks, start=len(text_block)):
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": dict(block, input={}),
                    },
                )
            )
            # Like the real API: the arguments arrive as JSON fragments (the first one empty).
            raw = json.dumps(block["input"])
            size = max(1, -(-len(raw) // 3))
            for piece in ["", *(raw[i : i + size] for i in range(0, len(raw), size))]:
                delta = {"type": "input_json_delta", "partial_json": piece}
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": _delta_usage(usage),
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._write_events(events)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def _write_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    def _stream(
        self, message: dict[str, Any], tokens: list[str], chunks: int, thinking: str = ""
    ) -> None:
        self._start_sse()
        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
        ]
        text_index = 0
        if thinking:  # a thinking block first, as the real API sends it
            text_index = 1
            block = {"type": "thinking", "thinking": "", "signature": ""}
            events += [
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": block},
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": thinking},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "signature_delta", "signature": "sig"},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ]
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": text_index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        size = max(1, -(-len(tokens) // max(1, chunks)))
        for i in range(0, len(tokens), size):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": text_index,
                        "delta": {"type": "text_delta", "text": "".join(tokens[i : i + size])},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": text_index}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": _delta_usage(usage),
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._write_events(events)
