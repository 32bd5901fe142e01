"""``claude-sim``: a stand-in for the ``claude`` CLI, used by tests and ``serve --demo``.

It accepts the flags the service passes to the real CLI (``-p``, ``--model``,
``--output-format json|stream-json|text``, ``--verbose``, ``--include-partial-messages``,
``--tools``, ``--system-prompt``, ``--no-session-persistence``, ``--bare``,
``--max-budget-usd``, ``--input-format``, ``--version``), reads the prompt from stdin and prints
the same event shapes as the real CLI. It imports only the standard library (plus the
stdlib-only :mod:`claude_code_api.pricing`) so it starts in a few tens of milliseconds.

The answer is deterministic and proves the prompt arrived byte for byte::

    [claude-sim claude-sonnet-4-5] bytes=12 sha256=<hex of stdin>. You said: <first words> ...

When the system prompt carries the service's ``response_format`` instruction the answer is
JSON instead: ``{"reply": "<that text>"}`` for ``json_object``, an instance of the schema for
``json_schema`` (see :mod:`claude_code_api.workers.sim_json`).

Tokens: input = (prompt + system prompt characters) // 4 (at least 1); output = the words of
the answer. ``total_cost_usd`` uses the seed prices; ``modelUsage`` is keyed by the full model
id. ``CLAUDE_CODE_MAX_OUTPUT_TOKENS=N`` truncates the answer to N words and, like the real CLI,
reports ``stop_reason: max_tokens`` on the stream and then an ``is_error`` result saying the
response "exceeded the N output token maximum".

Knobs: an environment variable (named ``CLAUDE_CODE_SIM_*`` so it passes the service's
environment allow-list) or a marker anywhere in the prompt (``[[sim:name]]`` or
``[[sim:name=value]]``, so HTTP-level tests can pick a behaviour per request). A marker wins.

=================  ============================  =============================================
marker             environment variable          effect
=================  ============================  =============================================
``delay=S``        ``CLAUDE_CODE_SIM_DELAY``       sleep S seconds before answering
``chunk_delay=S``  ``CLAUDE_CODE_SIM_CHUNK_DELAY`` sleep S seconds between streamed deltas
``exit=N``         ``CLAUDE_CODE_SIM_EXIT``        print to stderr, exit N, no result
``error=KIND``     ``CLAUDE_CODE_SIM_ERROR``       ``is_error`` result; KIND = overloaded,
                                                   rate_limit, auth, budget or other
``malformed``      ``CLAUDE_CODE_SIM_MALFORMED``   non-JSON and truncated JSON, no result
``noise``          ``CLAUDE_CODE_SIM_NOISE``       non-JSON lines between valid events
``hang``           ``CLAUDE_CODE_SIM_HANG``        stream one delta, then sleep forever
``no_result``      ``CLAUDE_CODE_SIM_NO_RESULT``   stream the answer, exit 0 without result
``empty_result``   ``CLAUDE_CODE_SIM_EMPTY_RESULT`` stream the answer, result text ``""``
``big=N``          ``CLAUDE_CODE_SIM_BIG``         answer with N bytes of text
``spawn_child``    ``CLAUDE_CODE_SIM_SPAWN_CHILD`` start a sleeping child process (same
                                                   process group, inherits stdout)
``exit_early``     ``CLAUDE_CODE_SIM_EXIT_EARLY``  with spawn_child: exit at once, leaving the
                                                   child holding stdout open (a "lost" worker)
``echo_env``       ``CLAUDE_CODE_SIM_ECHO_ENV``    answer with the names of its environment
(none)             ``CLAUDE_CODE_SIM_PIDFILE``     write "<own pid> <child pid>" to this file
=================  ============================  =============================================

The stderr of ``exit=N`` mentions the ``ANTHROPIC_API_KEY`` it was given, as a crashing CLI
might, so tests can check the service redacts keys from error details.

Client tools: with ``--mcp-config FILE`` it starts the config's stdio MCP servers like the real
CLI (``initialize``, ``notifications/initialized``, ``tools/list``) and offers their tools as
``mcp__<server>__<tool>``. A marker ``[[call:NAME {"json": "args"}]]`` (repeat it for parallel
calls; ``[[call2:NAME]]`` for the step after the first results) makes it answer with
``tool_use`` (stream events, then one ``assistant`` message per call), then send ``tools/call``
(``_meta`` carrying the tool_use id; all at once when the tools are ``readOnlyHint``, else one
after another) and wait for the answers however long, print the ``user`` tool_result message
and go on: more calls, or the text ``Tool results: <r1> | <r2>``. Calls without arguments get a
sample value per required property. Rounds already rendered in the prompt (``<tool_results>``)
count as steps done, as in the fake upstream (``tests/fakes/upstream.py``).

With ``--input-format stream-json`` (verified on the real CLI 2.1.197, see DEVELOPERS.md) one
process answers many user messages, one JSON line each
(``{"type":"user","message":{"role":"user","content":"..."}}``), with one ``result`` event per
message, and exits 0 at the end of stdin. Like the real CLI it keeps the conversation: the input
tokens of a message count every earlier prompt and answer; ``total_cost_usd`` is cumulative over
the process's life (``usage`` is per message). ``/clear`` empties the conversation (a
``result`` with text ``""`` and ``num_turns: 0``, no model call); another message starting with
``/`` is answered "Unknown command" without a model call. Knob markers apply per message.
Control requests (``{"type":"control_request",...}``): ``initialize``, ``set_model`` and
``apply_flag_settings`` (its ``env``) are answered with a ``control_response`` as by the real CLI.

``--resume ID`` loads a session file like the real CLI 2.1.197 (the rules the service's
``workers/session_file.py`` follows, found on the real binary): it is
``$CLAUDE_CONFIG_DIR/projects/<cwd with every non-alphanumeric character as "->/<ID>.jsonl``
(``$CLAUDE_CONFIG_DIR`` defaults to ``$HOME/.claude``); its ``user``/``assistant`` records need a
``timestamp``; the turns are the ``parentUuid`` chain back from the last record; a history
ending with a user turn gets the real CLI's made-up "Continue from where you left off." and
"No response requested." turns. A missing or unreadable file exits 1 with "No conversation
found with session ID: ID". The earlier turns count as input tokens, and the answer ends with
``Resumed: N earlier messages.``; client-tool steps count the ``tool_result`` rounds of the
history and read the markers of its user turns too.

``CLAUDE_CODE_SIM_RECORD=FILE`` appends one JSON line per model call, ``{"system": ...,
"messages": [...]}`` with the messages as the model would get them (the resumed turns, then
the prompt), so tests can see what reached "the model" as the fake upstream logs it for the
real binary.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

from claude_code_api.pricing import DEFAULT_RATES, tier_of
from claude_code_api.workers.sim_json import json_answer, requested_format

VERSION = "2.1.0 (Claude Code simulated)"
#: The full ids the simulated CLI answers with for each tier alias, as the real CLI resolves an
#: alias to its current model of that tier (these ids are the simulator's own, fixed for tests).
ALIAS_IDS: dict[str, str] = {
    "haiku": "claude-haiku-4-5",
    "sonnet": "claude-sonnet-4-5",
    "opus": "claude-opus-4-1",
}
_MARKER = re.compile(r"\[\[sim:([a-z_]+)(?:=([^\]]*))?\]\]")
_CALL = re.compile(r"\[\[call(\d*):([A-Za-z0-9_-]+)\s*(\{.*?\})?\]\]", re.S)
_RESULTS_OPEN = "<tool_results>"

_ERRORS: dict[str, tuple[str, int | None, str]] = {
    # kind: (subtype, api_error_status, result text) as the real CLI reports them
    "overloaded": ("success", 529, "API Error: 529 Overloaded. This is a server-side issue."),
    "rate_limit": ("success", 429, "API Error: Request rejected (429) · rate limited"),
    "auth": ("success", 401, "Failed to authenticate. API Error: 401 invalid x-api-key"),
    "budget": ("error_max_budget_usd", None, ""),
    "other": ("error_during_execution", None, "API Error: something went wrong"),
}


def knobs(prompt: str, environ: dict[str, str]) -> dict[str, str]:
    """The active knobs: environment variables overridden by prompt markers."""
    found: dict[str, str] = {}
    prefix = "CLAUDE_CODE_SIM_"
    for name, value in environ.items():
        if name.startswith(prefix) and value != "":
            found[name[len(prefix) :].lower()] = value
    for match in _MARKER.finditer(prompt):
        found[match.group(1)] = match.group(2) if match.group(2) is not None else "1"
    return found


def answer_text(prompt_bytes: bytes, model: str) -> str:
    """The deterministic answer for a prompt."""
    digest = hashlib.sha256(prompt_bytes).hexdigest()
    words = prompt_bytes.decode("utf-8", "replace").split()[:30]
    said = " ".join(words) if words else "(nothing)"
    return (
        f"[claude-sim {model}] bytes={len(prompt_bytes)} sha256={digest}. "
        f"You said: {said} . This is a deterministic reply from the simulated Claude CLI."
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="claude", add_help=True)
    parser.add_argument("prompt", nargs="?")
    parser.add_argument("-p", "--print", action="store_true", dest="print_mode")
    parser.add_argument("--model", default="claude-sonnet-4-5")
    parser.add_argument("--output-format", choices=("text", "json", "stream-json"), default="text")
    parser.add_argument("--input-format", choices=("text", "stream-json"), default="text")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--include-partial-messages", action="store_true")
    parser.add_argument("--tools")
    parser.add_argument("--system-prompt", default="")
    parser.add_argument("--system-prompt-file", default=None)
    parser.add_argument("--no-session-persistence", action="store_true")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--max-budget-usd", type=float)
    parser.add_argument("--effort", choices=("low", "medium", "high", "max"))
    parser.add_argument("--mcp-config", default=None)
    parser.add_argument("--strict-mcp-config", action="store_true")
    parser.add_argument("--allowedTools", default=None)
    parser.add_argument("--resume", "-r", default=None)
    parser.add_argument("--version", "-v", action="store_true")
    return parser


class _Out:
    """Writes events in the chosen output format, flushing each line like the real CLI."""

    def __init__(self, fmt: str, session_id: str) -> None:
        self.fmt = fmt
        self.session_id = session_id

    def event(self, payload: dict[str, Any]) -> None:
        if self.fmt == "stream-json":
            payload.setdefault("session_id", self.session_id)
            self.raw(json.dumps(payload))

    def stream_event(self, event: dict[str, Any]) -> None:
        self.event(
            {
                "type": "stream_event",
                "event": event,
                "parent_tool_use_id": None,
                "uuid": str(uuid.uuid4()),
            }
        )

    @staticmethod
    def raw(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _spawn_child(pidfile: str | None) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    if pidfile:
        with open(pidfile, "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")


def _result(
    model: str,
    text: str,
    usage: dict[str, int],
    cost: float,
    *,
    is_error: bool,
    subtype: str = "success",
    api_error_status: int | None = None,
    session_id: str,
    started: float,
) -> dict[str, Any]:
    model_id = ALIAS_IDS.get(model, model)
    return {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "api_error_status": api_error_status,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "duration_api_ms": 1,
        "num_turns": 1,
        "result": text,
        "stop_reason": "end_turn",
        "session_id": session_id,
        "total_cost_usd": cost,
        "usage": usage,
        "modelUsage": {
            model_id: {
                "inputTokens": usage["input_tokens"],
                "outputTokens": usage["output_tokens"],
                "cacheReadInputTokens": 0,
                "cacheCreationInputTokens": 0,
                "costUSD": cost,
            }
        },
    }


def run(
    args: argparse.Namespace,
    prompt_bytes: bytes,
    environ: dict[str, str],
    state: dict[str, float] | None = None,
) -> int:
    """Answer one prompt; returns the exit status.

    ``state`` (stream-json input only) carries the conversation across messages:
    ``history`` (characters so far) and ``cost`` (cumulative USD), both updated here.
    """
    started = time.monotonic()
    state = state if state is not None else {"history": 0.0, "cost": 0.0}
    prompt = prompt_bytes.decode("utf-8", "replace")
    k = knobs(prompt, environ)
    session_id = str(uuid.uuid4())
    out = _Out(args.output_format, session_id)
    model = ALIAS_IDS.get(args.model, args.model)

    if "spawn_child" in k:
        _spawn_child(environ.get("CLAUDE_CODE_SIM_PIDFILE"))
        if "exit_early" in k:
            os._exit(0)  # the child keeps our stdout open: the service must notice
    time.sleep(float(k.get("delay", 0)))
    if "exit" in k:
        key = environ.get("ANTHROPIC_API_KEY", "sk-ant-none")
        sys.stderr.write(f"claude-sim: simulated crash (exit {k['exit']}); key in use: {key}\n")
        return int(k["exit"])
    if "malformed" in k:
        out.raw("this is not JSON")
        out.raw('{"type": "result", "result": "trunc')
        return 0

    _record(args, environ, prompt)
    tool_turns = 0
    tool_usage = {"input_tokens": 0, "output_tokens": 0}
    results = _tool_loop(args, out, prompt, model, tool_usage) if args.mcp_config else None
    if results is not None:
        tool_turns, results_text = results
    if results is not None and tool_turns:
        text = "Tool results: " + results_text
    elif "big" in k:
        text = "x" * int(k["big"])
    elif "echo_env" in k:
        text = "env: " + " ".join(sorted(environ))
    else:
        text = answer_text(prompt_bytes, model)
        if getattr(args, "history", None):
            text += f" Resumed: {len(args.history)} earlier messages."
        if (wanted := requested_format(args.system_prompt)) is not None:
            text = json_answer(*wanted, reply=text)  # response_format: see sim_json
    words = text.split(" ")
    limit_env = environ.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "")
    limit = int(limit_env) if limit_env.isdigit() and int(limit_env) > 0 else None
    truncated = limit is not None and len(words) > limit
    if truncated:
        words = words[:limit]
    pieces = [w + " " for w in words[:-1]] + words[-1:]
    history = int(state["history"])
    input_tokens = max(1, (len(prompt_bytes) + len(args.system_prompt) + history) // 4)
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": len(pieces),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    final_usage = dict(usage)  # the last message alone; the result counts every turn
    usage["input_tokens"] += tool_usage["input_tokens"]
    usage["output_tokens"] += tool_usage["output_tokens"]
    rate = DEFAULT_RATES[tier_of(model)]
    cost = round((input_tokens * rate.input + len(pieces) * rate.output) / 1000.0, 10)
    state["history"] = history + len(prompt_bytes) + len(" ".join(words))
    state["cost"] += cost
    cost = round(state["cost"], 10)  # like the real CLI: cumulative over the process

    if args.verbose and args.input_format != "stream-json":  # else serve_stream() did
        _init_event(out, args, model)
    message_id = f"msg_sim_{uuid.uuid4().hex[:12]}"
    if args.include_partial_messages:
        out.stream_event(
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": dict(final_usage, output_tokens=1),
                },
            }
        )
        out.stream_event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
    chunk_delay = float(k.get("chunk_delay", 0))
    for i, piece in enumerate(pieces):
        if args.include_partial_messages:
            out.stream_event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                }
            )
        if "noise" in k and i == 0:
            out.raw("[sim] a stray log line that is not JSON")
        if "hang" in k:
            time.sleep(10**6)
        time.sleep(chunk_delay)
    body = "".join(pieces)
    if args.include_partial_messages:
        out.stream_event({"type": "content_block_stop", "index": 0})
        out.stream_event(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "max_tokens" if truncated else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": len(pieces)},
            }
        )
        out.stream_event({"type": "message_stop"})
    out.event(
        {
            "type": "assistant",
            "message": {
                "id": message_id,
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": body}],
            },
        }
    )
    if "no_result" in k:
        return 0

    error = k.get("error")
    if truncated:
        message = (
            f"API Error: Claude's response exceeded the {limit} output token maximum. "
            "To configure this behavior, set the CLAUDE_CODE_MAX_OUTPUT_TOKENS "
            "environment variable."
        )
        result = _result(
            model, message, usage, cost, is_error=True, session_id=session_id, started=started
        )
    elif error is not None:
        subtype, status, message = _ERRORS.get(error, _ERRORS["other"])
        result = _result(
            model,
            message,
            usage,
            cost,
            is_error=True,
            subtype=subtype,
            api_error_status=status,
            session_id=session_id,
            started=started,
        )
    else:
        shown = "" if "empty_result" in k else body
        result = _result(
            model, shown, usage, cost, is_error=False, session_id=session_id, started=started
        )
        result["num_turns"] = 1 + tool_turns
    if args.output_format == "text":
        out.raw(result["result"])
    elif args.output_format == "json":
        out.raw(json.dumps(result))
    else:
        out.event(result)
    return 1 if result["is_error"] else 0


class _McpServer:
    """One stdio MCP server from ``--mcp-config``, spoken to like the real CLI does."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        env = dict(os.environ, **(spec.get("env") or {}))
        self.proc = subprocess.Popen(
            [spec["command"], *spec.get("args", [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._next = 0
        self.tools: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any], *, notify: bool = False) -> int:
        self._next += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            message["id"] = self._next
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()
        return self._next

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while line := self.proc.stdout.readline():
            message = json.loads(line)
            if isinstance(message, dict) and "id" in message:
                return message
        return {"error": {"code": -32000, "message": "Connection closed"}}

    def handshake(self) -> None:
        self.send("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
        self.receive()
        self.send("notifications/initialized", {}, notify=True)
        self.send("tools/list", {})
        self.tools = list((self.receive().get("result") or {}).get("tools") or [])


def _mcp_servers(path: str) -> list[_McpServer]:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    servers = []
    for name, spec in (config.get("mcpServers") or {}).items():
        try:
            server = _McpServer(name, spec)
            server.handshake()
        except (OSError, ValueError, KeyError):
            continue  # like the real CLI: a server that fails to start gives no tools
        servers.append(server)
    return servers


def _sample(schema: dict[str, Any]) -> dict[str, Any]:
    samples = {"string": "sample", "integer": 1, "number": 1, "boolean": True, "array": []}
    props = schema.get("properties") or {}
    return {
        name: samples.get(str((props.get(name) or {}).get("type")), {})
        for name in schema.get("required") or []
    }


def _tool_loop(
    args: argparse.Namespace, out: _Out, prompt: str, model: str, usage: dict[str, int]
) -> tuple[int, str]:
    """Run the prompt's tool steps through the MCP servers; ``(turns, last results)``."""
    servers = _mcp_servers(args.mcp_config)
    tools = {
        f"mcp__{server.name}__{tool['name']}": (server, tool)
        for server in servers
        for tool in server.tools
    }
    history: list[dict[str, Any]] = getattr(args, "history", [])
    said = "\n".join(_content_text(m) for m in history if m.get("role") == "user")
    said = f"{said}\n{prompt}"
    rounds = sum(1 for m in history if _results_of(m))
    step = said.count(_RESULTS_OPEN) + rounds + 1
    turns, last = 0, ""
    while True:
        calls = []
        for match in _CALL.finditer(said):
            full = f"mcp__{servers[0].name}__{match.group(2)}" if servers else ""
            if int(match.group(1) or 1) == step and full in tools:
                schema = tools[full][1].get("inputSchema") or {}
                calls.append(
                    (full, json.loads(match.group(3)) if match.group(3) else _sample(schema))
                )
        if not calls:
            break
        last = _tool_turn(out, model, calls, tools, usage, len(prompt) // 4 + 1)
        turns += 1
        step += 1
    for server in servers:
        if server.proc.stdin is not None:
            server.proc.stdin.close()
        server.proc.wait(timeout=5)
    return turns, last


def _tool_turn(
    out: _Out,
    model: str,
    calls: list[tuple[str, dict[str, Any]]],
    tools: dict[str, tuple[_McpServer, dict[str, Any]]],
    usage: dict[str, int],
    input_tokens: int,
) -> str:
    """Print one ``tool_use`` turn, call the tools, print the results; their texts joined."""
    message_id = f"msg_sim_{uuid.uuid4().hex[:12]}"
    blocks: list[dict[str, Any]] = [
        {"type": "tool_use", "id": f"toolu_sim_{uuid.uuid4().hex[:16]}", "name": n, "input": a}
        for n, a in calls
    ]
    output_tokens = 8 * len(blocks)
    usage["input_tokens"] += input_tokens
    usage["output_tokens"] += output_tokens
    start = {"input_tokens": input_tokens, "output_tokens": 1}
    message = {"id": message_id, "type": "message", "role": "assistant", "model": model}
    out.stream_event({"type": "message_start", "message": dict(message, content=[], usage=start)})
    for index, block in enumerate(blocks):
        out.stream_event(
            {"type": "content_block_start", "index": index, "content_block": dict(block, input={})}
        )
        raw = json.dumps(block["input"])
        for piece in ("", raw[: len(raw) // 2], raw[len(raw) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.stream_event({"type": "content_block_delta", "index": index, "delta": delta})
        out.event({"type": "assistant", "message": dict(message, content=[block])})
        out.stream_event({"type": "content_block_stop", "index": index})
    out.stream_event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
    )
    out.stream_event({"type": "message_stop"})
    # Like the real CLI: all at once for read-only tools, else one call after another.
    parallel = all(
        (tools[b["name"]][1].get("annotations") or {}).get("readOnlyHint") for b in blocks
    )
    answers: dict[str, dict[str, Any]] = {}
    waiting: dict[tuple[str, int], str] = {}  # (server, rpc id) -> tool_use id
    for block in blocks:
        server, tool = tools[block["name"]]
        params = {
            "name": tool["name"],
            "arguments": block["input"],
            "_meta": {"claudecode/toolUseId": block["id"]},
        }
        rpc_id = server.send("tools/call", params)
        if parallel:
            waiting[(server.name, rpc_id)] = str(block["id"])
        else:
            answers[str(block["id"])] = server.receive()
    for server_name, _rpc_id in list(waiting):
        server = next(s for s, _t in tools.values() if s.name == server_name)
        reply = server.receive()  # the answers may come in any order
        answers[waiting.get((server_name, int(reply.get("id") or 0)), "")] = reply
    content = []
    texts = []
    for block in blocks:
        reply = answers.get(str(block["id"]), {})
        result = reply.get("result") or {}
        error = reply.get("error")
        parts = result.get("content") or [
            {"type": "text", "text": f"MCP error {(error or {}).get('message', '')}"}
        ]
        entry = {"type": "tool_result", "tool_use_id": block["id"], "content": parts}
        if result.get("isError") or error:
            entry["is_error"] = True
        content.append(entry)
        texts.append("".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)))
    out.event({"type": "user", "message": {"role": "user", "content": content}})
    return " | ".join(texts)


def _init_event(out: _Out, args: argparse.Namespace, model: str) -> None:
    """The ``system``/``init`` event the real CLI prints first (per message in stream input)."""
    out.event(
        {
            "type": "system",
            "subtype": "init",
            "cwd": os.getcwd(),
            "model": model,
            "tools": [] if args.tools == "" else ["Bash", "Read", "Write"],
        }
    )


def _results_of(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return (
        message.get("role") == "user"
        and isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def load_session(session_id: str, environ: dict[str, str]) -> list[dict[str, Any]] | None:
    """The messages of a session file as ``--resume`` loads them, or None (see above)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    config = environ.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude")
    name = re.sub(r"[^A-Za-z0-9]", "-", os.getcwd())
    path = os.path.join(config, "projects", name, f"{session_id}.jsonl")
    try:
        with open(path, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return None
    turns = [
        r
        for r in records
        if isinstance(r, dict)
        and r.get("type") in ("user", "assistant")
        and isinstance(r.get("message"), dict)
        and "timestamp" in r
    ]
    if not turns:
        return None
    by_id = {r.get("uuid"): r for r in turns if r.get("uuid")}
    chain: list[dict[str, Any]] = []
    record: dict[str, Any] | None = turns[-1]
    while record is not None and len(chain) <= len(turns):
        chain.insert(0, record)
        parent = record.get("parentUuid")
        record = by_id.get(parent) if parent else None
    messages = [
        {"role": r["message"].get("role", r["type"]), "content": r["message"].get("content")}
        for r in chain
    ]
    if messages[-1]["role"] == "user":  # the real CLI's repair of an interrupted turn
        content = messages[-1]["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = {"type": "text", "text": "Continue from where you left off."}
        messages[-1] = {"role": "user", "content": [*blocks, text]}
        reply = [{"type": "text", "text": "No response requested."}]
        messages.append({"role": "assistant", "content": reply})
    return messages


def _record(args: argparse.Namespace, environ: dict[str, str], prompt: str) -> None:
    path = environ.get("CLAUDE_CODE_SIM_RECORD")
    if not path:
        return
    messages = [*getattr(args, "history", []), {"role": "user", "content": prompt}]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"system": args.system_prompt, "messages": messages}) + "\n")


def _content_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_block_text(b) for b in content if isinstance(b, dict))
    return ""


def _block_text(block: dict[str, Any]) -> str:
    # Images show up in the answer ("You said: ...") so tests can see they arrived.
    if block.get("type") == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            size = len(base64.b64decode(source.get("data", "")))
            return f" [image {source.get('media_type')} {size} bytes]"
        return f" [image {source.get('url')}]"
    return str(block.get("text", ""))


def serve_stream(
    args: argparse.Namespace, environ: dict[str, str], state: dict[str, float] | None = None
) -> int:
    """``--input-format stream-json``: answer user messages line by line until end of input."""
    state = state if state is not None else {"history": 0.0, "cost": 0.0}
    while line := sys.stdin.buffer.readline():
        try:
            event = json.loads(line)
        except ValueError:
            sys.stderr.write("Error: invalid JSON on stdin\n")
            return 1
        if isinstance(event, dict) and event.get("type") == "control_request":
            _control(args, environ, event, state)
            continue
        if not isinstance(event, dict) or event.get("type") != "user":
            continue
        prompt = _content_text(event.get("message"))
        if args.verbose:
            _init_event(_Out(args.output_format, ""), args, ALIAS_IDS.get(args.model, args.model))
        if prompt.startswith("/"):
            _command(args, prompt, state)
            continue
        status = run(args, prompt.encode(), environ, state)
        active = knobs(prompt, environ)
        if "exit" in active or "no_result" in active:  # a crash ends the process; an error
            return status  # result does not (the real CLI then waits for more input)
    return 0


def _control(
    args: argparse.Namespace,
    environ: dict[str, str],
    event: dict[str, Any],
    state: dict[str, float],
) -> None:
    """The control requests the service sends (``initialize``, ``mcp_status``, ``set_model``,
    ``apply_flag_settings`` with ``env``), answered like the real CLI 2.1.197 (``initialize``'s
    ``systemPrompt`` replaces the system prompt); others fail."""
    request = event.get("request") or {}
    kind = request.get("subtype")
    response: dict[str, Any] = {"subtype": "success", "request_id": event.get("request_id")}
    if kind == "set_model":
        args.model = str(request.get("model") or args.model)
        state["history"] += 120  # like the real CLI: a "/model" message joins the conversation
    elif kind == "apply_flag_settings":
        for name, value in ((request.get("settings") or {}).get("env") or {}).items():
            environ[str(name)] = str(value)
    elif kind == "mcp_status":
        response["response"] = {"mcpServers": []}
    elif kind == "initialize":
        if request.get("systemPrompt") is not None:  # replaces --system-prompt(-file)
            args.system_prompt = str(request["systemPrompt"])
    else:
        response = dict(response, subtype="error", error=f"unsupported: {kind}")
    _Out(args.output_format, "").event({"type": "control_response", "response": response})


def _command(args: argparse.Namespace, prompt: str, state: dict[str, float]) -> None:
    """A slash command: ``/clear`` resets the conversation; no model call either way."""
    session_id = str(uuid.uuid4())
    text = ""
    if prompt.split()[0] == "/clear":
        state["history"] = 0.0
        args.history = []
    else:
        text = f"Unknown command: {prompt.split()[0]}"
    usage = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    out = _Out(args.output_format, session_id)
    result = _result(
        args.model,
        text,
        usage,
        round(state["cost"], 10),
        is_error=False,
        session_id=session_id,
        started=time.monotonic(),
    )
    result["num_turns"] = 0
    out.event(result)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    args = _parser().parse_args(argv)
    if args.system_prompt_file:
        with open(args.system_prompt_file, encoding="utf-8") as handle:
            args.system_prompt = handle.read()
    if args.version:
        print(VERSION)
        return 0
    if args.output_format == "stream-json" and args.print_mode and not args.verbose:
        sys.stderr.write(
            "Error: When using --print, --output-format=stream-json requires --verbose\n"
        )
        return 1
    environ = dict(os.environ)
    state = {"history": 0.0, "cost": 0.0}
    args.history = []
    if args.resume is not None:
        history = load_session(args.resume, environ)
        if history is None:
            sys.stderr.write(f"No conversation found with session ID: {args.resume}\n")
            return 1
        args.history = history
        state["history"] = float(len(json.dumps(history)))
    if args.input_format == "stream-json" and not args.prompt:
        return serve_stream(args, environ, state)
    prompt_bytes = args.prompt.encode() if args.prompt else sys.stdin.buffer.read()
    return run(args, prompt_bytes, environ, state)


if __name__ == "__main__":  # pragma: no cover - exercised as a subprocess
    sys.exit(main())
