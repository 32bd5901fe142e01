"""The socket ``serve`` binds: connections accepted from it get TCP_NODELAY from asyncio.

Without it every response after the first on a keep-alive connection waited for the client's
delayed ACK (~40 ms): cache hits measured 44 ms instead of ~1 ms (bench/api.py).
"""

from __future__ import annotations

import asyncio
import socket

from claude_code_api.cli import _listen


async def test_accepted_connections_have_tcp_nodelay() -> None:
    sock = _listen("127.0.0.1", 0)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket")
        seen.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)
    async with server:
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(seen, 10) != 0
        writer.close()
        await writer.wait_closed()
