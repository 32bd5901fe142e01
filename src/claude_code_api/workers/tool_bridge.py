"""The worker's end of the MCP bridge: the request's tools offered to the CLI as MCP tools.

A tool run starts the CLI with ``--mcp-config <file> --strict-mcp-config --allowedTools
"mcp__t__*"`` (built-in tools stay off with ``--tools ""``). The config names
:mod:`claude_code_api.workers.mcp_server`, which the CLI spawns; that server lists the request's
tools and relays every ``tools/call`` over a unix socket to :class:`Bridge`, which keeps it
open until the client's result arrives (:meth:`Bridge.answer`). Verified on the real CLI
2.1.197 (``docs/CLI-FACTS`` in the shared notes): the ``tool_use`` is printed on stdout before
the ``tools/call`` is sent, and the CLI then waits with nothing sent upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from claude_code_api.domain import TaskRequest, ToolResult, ToolSpec

#: The MCP server's name: the model sees the tools as ``mcp__t__<name>`` (short, so client
#: names up to 56 characters stay within the upstream's 64-character limit).
BRIDGE_NAME = "t"
PREFIX = f"mcp__{BRIDGE_NAME}__"
SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")
#: Longest unix socket path (Linux allows 108 bytes with the terminator).
MAX_SOCKET_PATH = 100


def offered(task: TaskRequest) -> list[ToolSpec]:
    """The tools the CLI gets: all of them, only the named one, or none for ``"none"``."""
    if task.tool_choice == "none":
        return []
    if task.tool_choice not in ("auto", "required"):
        return [t for t in task.tools if t.name == task.tool_choice]
    return list(task.tools)


def uses_tools(task: TaskRequest) -> bool:
    """Whether this task runs with the bridge."""
    return bool(offered(task))


def mcp_tools(task: TaskRequest) -> list[dict[str, Any]]:
    """``tools/list`` entries. ``readOnlyHint`` makes the CLI send parallel calls at once
    instead of one after another (the tool never runs on the server, so it is no lie here)."""
    return [
        {
            "name": t.name,
            "description": t.description,
            "inputSchema": t.input_schema,
            "annotations": {"readOnlyHint": True},
        }
        for t in offered(task)
    ]


def system_addendum(task: TaskRequest) -> str:
    """What the system prompt says about the tools, so it never contradicts the ones offered."""
    names = ", ".join(PREFIX + t.name for t in offered(task))
    lines = [
        f"You can call these tools, provided by the user's application: {names}. "
        "Call a tool when it helps; its result comes back to you as the tool's result."
    ]
    if task.tool_choice == "required":
        lines.append("You must call at least one of these tools in your next reply.")
    elif task.tool_choice not in ("auto", "none"):
        lines.append(f"You must call the tool {PREFIX}{task.tool_choice} in your next reply.")
    if not task.parallel_tool_calls:
        lines.append("Call at most one tool per reply.")
    return "\n".join(lines)


def unprefixed(name: str) -> str:
    """A tool name as the client knows it (the model sees it with the bridge's prefix)."""
    return name[len(PREFIX) :] if name.startswith(PREFIX) else name


class Bridge:
    """Holds the CLI's pending ``tools/call`` requests until the client's results come.

    One per tool run. :meth:`start` writes the MCP config and the tools file into the run's
    private working directory and listens on a unix socket there; :meth:`argv` gives the CLI
    flags. Results may come before the matching call has reached the socket (the CLI sends it
    just after printing the ``tool_use``): they are kept and sent when it arrives.
    """

    def __init__(self, task: TaskRequest, workdir: Path) -> None:
        self.task = task
        self.workdir = workdir
        self.config_path = workdir / "mcp.json"
        self._socket_dir: Path | None = None
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pending: dict[str, tuple[asyncio.StreamWriter, Any]] = {}
        self._answers: dict[str, ToolResult] = {}
        self.calls_seen = 0

    async def start(self) -> None:
        """Listen on the socket and write the config the CLI reads."""
        socket_path = self.workdir / "bridge.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="ccapi-b-", dir="/tmp"))
            socket_path = self._socket_dir / "s"
        self._server = await asyncio.start_unix_server(self._serve, path=str(socket_path))
        tools_path = self.workdir / "tools.json"
        tools_path.write_text(json.dumps(mcp_tools(self.task)), encoding="utf-8")
        server = {
            "type": "stdio",
            "command": sys.executable,
            "args": ["-I", "-S", str(SERVER_SCRIPT), str(tools_path), str(socket_path)],
            "env": {},
        }
        config = {"mcpServers": {BRIDGE_NAME: server}}
        self.config_path.write_text(json.dumps(config), encoding="utf-8")

    def argv(self) -> list[str]:
        """The CLI flags that load the bridge and nothing else."""
        return [
            "--mcp-config",
            str(self.config_path),
            "--strict-mcp-config",
            "--allowedTools",
            f"{PREFIX}*",
        ]

    def answer(self, results: list[ToolResult]) -> None:
        """Answer pending calls (or keep the results for calls still on their way)."""
        for result in results:
            self._answers[result.tool_call_id] = result
        for tool_use_id in list(self._pending):
            self._flush(tool_use_id)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while line := await reader.readline():
                try:
                    call = json.loads(line)
                except ValueError:
                    continue
                self.calls_seen += 1
                tool_use_id = str(call.get("tool_use_id") or "")
                self._pending[tool_use_id] = (writer, call.get("id"))
                self._flush(tool_use_id)

    def _flush(self, tool_use_id: str) -> None:
        result = self._answers.pop(tool_use_id, None)
        if result is None:
            return
        writer, rpc_id = self._pending.pop(tool_use_id)
        answer = {
            "id": rpc_id,
            "result": {
                "content": [{"type": "text", "text": result.content}],
                "isError": result.is_error,
            },
        }
        writer.write((json.dumps(answer) + "\n").encode())

    async def close(self) -> None:
        """Close the socket (the MCP server then exits) and remove it."""
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
