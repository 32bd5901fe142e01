"""The ceiling for bench/api.py's wrk run: a bare ASGI app on the same uvicorn settings that
answers every request with a small fixed JSON body (no framework, no auth, no storage)."""

from __future__ import annotations

from typing import Any

BODY = b'{"id":"chatcmpl-bare","object":"chat.completion","choices":[]}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
