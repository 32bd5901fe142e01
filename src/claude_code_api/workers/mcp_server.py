"""The MCP server the CLI starts for a tool run: the client's tools, answered by the worker.

Run by file path with the service's own Python (``python -I -S mcp_server.py TOOLS SOCKET``),
never as ``-m claude_code_api...``: it imports only the standard library, so it starts in
~20 ms and adds no second cold start to a tool-call turn. It speaks MCP's JSON-RPC over stdio
(one JSON object per line) with the CLI, and relays each ``tools/call`` over the unix socket
``SOCKET`` to the worker (:mod:`claude_code_api.workers.tool_bridge`), which answers it when the
client sends the tool's result, however much later.

Why hand-rolled and not the ``mcp`` SDK: the SDK pulls in pydantic, anyio, httpx and starlette
(~0.3 s of imports per start, on every tool run) and would need an async server loop; the CLI
uses four methods (``initialize``, ``notifications/initialized``, ``tools/list``,
``tools/call``), which take ~100 lines here.

Messages on the socket (one JSON line each):

- server -> worker: ``{"id": <rpc id>, "name": ..., "arguments": {...}, "tool_use_id": ...}``
- worker -> server: ``{"id": <rpc id>, "result": {"content": [...], "isError": false}}``
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import Any

SERVER_NAME = "ccapi-tools"
#: MCP's protocol version when the client asks for none (the CLI 2.1.197 asks for 2025-11-25).
PROTOCOL_VERSION = "2025-06-18"

_out_lock = threading.Lock()


def _send(message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")) + "\n"
    with _out_lock:
        sys.stdout.write(data)
        sys.stdout.flush()


def _reply(rpc_id: Any, result: dict[str, Any]) -> None:
    _send({"jsonrpc": "2.0", "id": rpc_id, "result": result})


def _error(rpc_id: Any, code: int, message: str) -> None:
    _send({"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}})


def _relay_answers(conn: socket.socket) -> None:
    """Forward the worker's answers to the CLI; end the process when the worker goes away."""
    with conn.makefile("r", encoding="utf-8") as answers:
        for line in answers:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            _reply(answer.get("id"), answer.get("result") or {"content": [], "isError": True})
    # The worker closed the socket: the run is over and the CLI is being killed.
    sys.stdout.flush()
    os._exit(0)


def serve(tools: list[dict[str, Any]], conn: socket.socket) -> None:
    """Answer the CLI's requests on stdin until it closes it."""
    send_lock = threading.Lock()
    threading.Thread(target=_relay_answers, args=(conn,), daemon=True).start()
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if not isinstance(request, dict):
            continue
        method = request.get("method")
        rpc_id = request.get("id")
        if rpc_id is None:  # a notification (initialized, cancelled, ...): nothing to answer
            continue
        params = request.get("params") or {}
        if method == "initialize":
            _reply(
                rpc_id,
                {
                    "protocolVersion": params.get("protocolVersion") or PROTOCOL_VERSION,
                    "capabilities": {"tools": {"listChanged": False}},
                    "serverInfo": {"name": SERVER_NAME, "version": "1"},
                },
            )
        elif method == "tools/list":
            _reply(rpc_id, {"tools": tools})
        elif method == "tools/call":
            meta = params.get("_meta") or {}
            call = {
                "id": rpc_id,
                "name": params.get("name"),
                "arguments": params.get("arguments") or {},
                "tool_use_id": meta.get("claudecode/toolUseId"),
            }
            with send_lock:
                conn.sendall((json.dumps(call, separators=(",", ":")) + "\n").encode())
        elif method == "ping":
            _reply(rpc_id, {})
        else:
            _error(rpc_id, -32601, f"Method not found: {method}")


def main(argv: list[str]) -> int:
    """``mcp_server.py TOOLS_JSON_FILE SOCKET_PATH``."""
    with open(argv[1], encoding="utf-8") as handle:
        tools = json.load(handle)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(argv[2])
    serve(tools, conn)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess of the CLI
    sys.exit(main(sys.argv))
