"""``Stream[T]`` and ``AsyncStream[T]``: iterables and context managers over the service's
server-sent events (OpenAI ``chat.completion.chunk`` objects ending in ``data: [DONE]``).

The request is sent lazily, on first iteration or on entering the ``with`` block, so both of
these work and close the connection when done::

    for token in client.stream("Write a haiku"):
        print(token, end="")

    with client.stream("Write a haiku") as stream:
        text = "".join(stream)
        print(stream.usage, stream.model)

The SSE parser is a few lines of the WHATWG algorithm rather than a dependency, so the client
needs nothing but httpx.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from claude_code_api.client._constants import REQUEST_ID_HEADER
from claude_code_api.client._exceptions import (
    APIConnectionError,
    APIStreamError,
    APITimeoutError,
)
from claude_code_api.client._types import Completion, TokenUsage, ToolCall, assistant_message

__all__ = ["AsyncStream", "SSEDecoder", "ServerSentEvent", "Stream"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Incremental SSE decoder: feed it lines, get an event at each blank line."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def decode(self, line: str) -> ServerSentEvent | None:
        """Consume one line (without its newline); return an event when one is complete."""
        if not line:
            if not self._data and self._event is None:
                return None
            event = ServerSentEvent("\n".join(self._data), self._event, self._id)
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


def text_delta(chunk: dict[str, Any], delta: str) -> str | None:
    """The default extractor: yield each non-empty piece of text."""
    return delta or None


class _StreamBase(Generic[T]):
    """State shared by the sync and async streams: what the chunks said so far."""

    def __init__(self, extract: Callable[[dict[str, Any], str], T | None]) -> None:
        self._extract = extract
        self._decoder = SSEDecoder()
        self._parts: list[str] = []
        self._done = False
        self.response: httpx.Response | None = None
        self.id: str = ""
        self.model: str = ""
        self.created: int = 0
        self.finish_reason: str | None = None
        self.usage: TokenUsage | None = None
        self._cached_usage = False
        self._calls: dict[int, dict[str, str]] = {}  # delta.tool_calls joined by index

    @property
    def request_id(self) -> str | None:
        """The server's id for this request (once the response has arrived)."""
        return self.response.headers.get(REQUEST_ID_HEADER) if self.response else None

    @property
    def cached(self) -> bool:
        """Whether the answer was replayed from the response cache."""
        hit = self.response is not None and self.response.headers.get("x-ccapi-cache") == "hit"
        return hit or self._cached_usage

    @property
    def text(self) -> str:
        """All text received so far."""
        return "".join(self._parts)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls assembled so far (complete once the stream is over)."""
        return tuple(
            ToolCall(c["id"], c["name"], c["arguments"] or "{}")
            for _, c in sorted(self._calls.items())
        )

    @property
    def message(self) -> dict[str, Any]:
        """The answer so far as the assistant message of the conversation's next request."""
        return assistant_message(self.text, self.tool_calls)

    def _completion(self) -> Completion:
        return Completion(
            content=self.text,
            model=self.model,
            usage=self.usage or TokenUsage(),
            cached=self.cached,
            id=self.id,
            finish_reason=self.finish_reason,
            request_id=self.request_id,
            created=self.created,
            tool_calls=self.tool_calls,
        )

    def _handle_line(self, line: str) -> tuple[bool, T | None]:
        """Process one line: (``True`` when the stream is over, the item to yield or None)."""
        event = self._decoder.decode(line)
        if event is None:
            return False, None
        if event.data == "[DONE]":
            self._done = True
            return True, None
        try:
            chunk = json.loads(event.data)
        except ValueError:
            return False, None  # not JSON: ignore, as OpenAI's SDK does
        if not isinstance(chunk, dict):
            return False, None
        if isinstance(chunk.get("error"), dict) or event.event == "error":
            err = chunk.get("error") or {}
            raise APIStreamError(
                str(err.get("message") or "The stream failed."),
                code=err.get("code"),
                error_type=err.get("type"),
                request_id=self.request_id,
            )
        return False, self._apply(chunk)

    def _apply(self, chunk: dict[str, Any]) -> T | None:
        self.id = str(chunk.get("id") or self.id)
        self.model = str(chunk.get("model") or self.model)
        self.created = int(chunk.get("created") or self.created)
        if isinstance(chunk.get("usage"), dict):
            self.usage = TokenUsage.from_dict(chunk["usage"])
            self._cached_usage = bool(chunk["usage"].get("cached"))
        delta = ""
        for choice in chunk.get("choices") or []:
            delta += str((choice.get("delta") or {}).get("content") or "")
            self._join_tool_calls((choice.get("delta") or {}).get("tool_calls"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if delta:
            self._parts.append(delta)
        return self._extract(chunk, delta)

    def _join_tool_calls(self, deltas: Any) -> None:
        """Join ``delta.tool_calls`` pieces: id and name first, then argument fragments."""
        for piece in deltas if isinstance(deltas, list) else []:
            if not isinstance(piece, dict) or not isinstance(piece.get("index"), int):
                continue
            call = self._calls.setdefault(piece["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += str(piece.get("id") or "")
            function = piece.get("function") or {}
            call["name"] += str(function.get("name") or "")
            call["arguments"] += str(function.get("arguments") or "")

    def _check_finished(self) -> None:
        if not self._done and self.finish_reason is None:
            assert self.response is not None
            raise APIConnectionError(
                "The stream ended before the completion finished.", request=self.response.request
            )


def _translate(exc: httpx.HTTPError, request: httpx.Request) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(request=request)
    return APIConnectionError(f"Connection error while streaming: {exc}", request=request)


class Stream(_StreamBase[T]):
    """A synchronous stream of items (text deltas for :meth:`ClaudeClient.stream`)."""

    def __init__(
        self,
        opener: Callable[[], httpx.Response],
        extract: Callable[[dict[str, Any], str], T | None],
    ) -> None:
        super().__init__(extract)
        self._opener = opener
        self._iterator: Iterator[T] | None = None

    def _open(self) -> httpx.Response:
        if self.response is None:
            self.response = self._opener()
        return self.response

    def _items(self) -> Iterator[T]:
        response = self._open()
        try:
            for line in response.iter_lines():
                over, item = self._handle_line(line)
                if item is not None:
                    yield item
                if over:
                    break
            else:
                _, item = self._handle_line("")  # a final event without its blank line
                if item is not None:
                    yield item
            self._check_finished()
        except httpx.HTTPError as exc:
            raise _translate(exc, response.request) from exc
        finally:
            response.close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._iterator is None:
            self._iterator = self._items()
        return next(self._iterator)

    def __enter__(self) -> Stream[T]:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the server then stops the CLI call)."""
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]
        if self.response is not None:
            self.response.close()

    def get_final_completion(self) -> Completion:
        """Read the rest of the stream and return it as one :class:`Completion`."""
        for _ in self:
            pass
        return self._completion()


class AsyncStream(_StreamBase[T]):
    """An asynchronous stream of items (text deltas for :meth:`AsyncClaudeClient.stream`)."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[httpx.Response]],
        extract: Callable[[dict[str, Any], str], T | None],
    ) -> None:
        super().__init__(extract)
        self._opener = opener
        self._iterator: AsyncIterator[T] | None = None

    async def _open(self) -> httpx.Response:
        if self.response is None:
            self.response = await self._opener()
        return self.response

    async def _items(self) -> AsyncIterator[T]:
        response = await self._open()
        try:
            async for line in response.aiter_lines():
                over, item = self._handle_line(line)
                if item is not None:
                    yield item
                if over:
                    break
            else:
                _, item = self._handle_line("")
                if item is not None:
                    yield item
            self._check_finished()
        except httpx.HTTPError as exc:
            raise _translate(exc, response.request) from exc
        finally:
            await response.aclose()

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._iterator is None:
            self._iterator = self._items()
        return await anext(self._iterator)

    async def __aenter__(self) -> AsyncStream[T]:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (the server then stops the CLI call)."""
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]
        if self.response is not None:
            await self.response.aclose()

    async def get_final_completion(self) -> Completion:
        """Read the rest of the stream and return it as one :class:`Completion`."""
        async for _ in self:
            pass
        return self._completion()
