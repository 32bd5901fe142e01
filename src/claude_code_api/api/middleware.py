"""Pure ASGI middleware: request ids, body-size limit and request metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request overhead to a few microseconds and
leaves streaming responses and disconnect detection untouched.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claude_code_api.api.errors import render, style_for
from claude_code_api.application.metrics import Metrics
from claude_code_api.errors import PayloadTooLargeError


class _BodyTooLargeError(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read ``body`` once, then the real messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def new_request_id() -> str:
    """A short random id, returned in ``x-request-id`` and stored with the usage row."""
    return "req_" + secrets.token_hex(12)


class RequestContextMiddleware:
    """Assign a request id, enforce the body limit, and count/time every HTTP request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (HTTP only; WebSockets pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        header = (b"x-request-id", request_id.encode())

        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit():
                length = int(value)
        if length is not None and length > self.max_body:
            await self._reject(send, header, scope.get("path", ""))
            self._observe(scope, 413, started)
            return
        if length is None:
            # Chunked (no Content-Length): read the body here, up to the limit, because an
            # error raised from inside the framework's body parsing would become a 400.
            buffered = await self._read_limited(receive)
            if buffered is None:
                await self._reject(send, header, scope.get("path", ""))
                self._observe(scope, 413, started)
                return
            receive = _replay(buffered, receive)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLargeError
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], header]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLargeError:
            if not response_started:
                await self._reject(send, header, scope.get("path", ""))
            status = 413
        finally:
            self._observe(scope, status, started)

    async def _read_limited(self, receive: Receive) -> bytes | None:
        """The whole request body, or None as soon as it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: an empty body
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _reject(self, send: Send, header: tuple[bytes, bytes], path: str) -> None:
        err = PayloadTooLargeError(f"Request body larger than {self.max_body} bytes.")
        body = json.dumps(render(err, style_for(path))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), header],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route: Any = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.observe_request(path, status, time.perf_counter() - started)
