"""The work queue seam: tasks in, per-task event streams out; and its in-memory twin.

Protocol (both backends): a producer ``put``\\ s a JSON payload and gets a task id; a consumer
``take``\\ s a :class:`Delivery`, runs it, ``publish``\\ es events to the task's event stream and
``ack``\\ s it last. A delivery not acked within the visibility timeout (its consumer died) is
handed to another consumer with ``attempt`` + 1; the consumer decides to fail a task that has
been lost too often (see :mod:`claude_code_api.remote.worker`). The producer reads the task's
events with ``read_events`` until a ``result`` or ``error`` event.

Event shapes: ``{"type": "started", "attempt": n, "worker": name}``, ``{"type": "delta",
"text": ...}``, ``{"type": "result", "result": CompletionResult.to_dict()}``, ``{"type":
"error", "error": {...}}`` (see :func:`error_event`), ``{"type": "cancelled"}``.

Cancellation: a producer that gives up on a task calls ``cancel`` and leaves the mark in place
(no ``discard``); a consumer running the task polls ``is_cancelled``, stops it, publishes
``cancelled`` and acks; a consumer taking it later skips it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from claude_code_api import errors
from claude_code_api.errors import BusyError, CCAPIError, CLIError

#: Events a task's stream may carry, last one is "result" or "error".
EventList = list[tuple[str, dict[str, Any]]]


@dataclass(slots=True)
class Delivery:
    """One task handed to one consumer."""

    id: str  # the queue's message id (a stream id on Redis)
    task_id: str
    payload: dict[str, Any]
    attempt: int = 1  # 1 on the first delivery, 2 after one lost consumer, ...


class WorkQueue(Protocol):
    """Bounded at-least-once queue plus per-task event streams."""

    max_length: int

    async def put(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        """Enqueue; returns the task id. Raises :class:`BusyError` when the queue is full."""
        ...

    async def take(self, consumer: str, *, block: float = 1.0) -> Delivery | None:
        """Next delivery (a timed-out one first), waiting up to ``block`` seconds."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The task is finished (its final event is published): forget it."""
        ...

    async def touch(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        """Heartbeat: the consumer still works on these, restart their visibility timeout."""
        ...

    async def length(self) -> int:
        """Tasks queued or in flight."""
        ...

    async def publish(self, task_id: str, event: dict[str, Any]) -> None:
        """Append an event to the task's event stream."""
        ...

    async def read_events(self, task_id: str, after: str, *, block: float = 1.0) -> EventList:
        """Events after cursor ``after`` (``"0"``: from the start), waiting up to ``block``."""
        ...

    async def cancel(self, task_id: str) -> None:
        """Mark a task as no longer wanted (a consumer that has not started it skips it)."""
        ...

    async def is_cancelled(self, task_id: str) -> bool:
        """True after :meth:`cancel`."""
        ...

    async def discard(self, task_id: str) -> None:
        """Drop the task's event stream and marks (the owner has read the final event)."""
        ...

    async def announce(self, consumer: str, ttl: float) -> None:
        """``consumer`` is alive and consuming for the next ``ttl`` seconds (a heartbeat)."""
        ...

    async def withdraw(self, consumer: str) -> None:
        """``consumer`` stopped consuming."""
        ...

    async def live_consumers(self) -> int:
        """How many consumers announced themselves and have not expired or withdrawn."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def error_event(exc: BaseException) -> dict[str, Any]:
    """An ``error`` event carrying a domain error across processes (no traceback, no secrets)."""
    if not isinstance(exc, CCAPIError):
        exc = CLIError(f"worker failed: {type(exc).__name__}")
    return {
        "type": "error",
        "error": {
            "class": type(exc).__name__,
            "message": exc.message,
            "code": exc.code,
            "detail": getattr(exc, "detail", ""),
        },
    }


def error_from_event(data: dict[str, Any]) -> CCAPIError:
    """Rebuild the domain error of an ``error`` event (unknown classes become CLIError)."""
    cls = getattr(errors, str(data.get("class", "")), None)
    message = str(data.get("message") or "remote worker failed")
    if not (isinstance(cls, type) and issubclass(cls, CCAPIError)):
        cls = CLIError
    try:
        exc = cls(message)
    except TypeError:  # a constructor needing more than a message
        exc = CLIError(message)
    if data.get("code"):
        exc.code = str(data["code"])
    if data.get("detail") and isinstance(exc, CLIError):
        exc.detail = str(data["detail"])
    return exc


@dataclass(slots=True)
class _InFlight:
    delivery: Delivery
    consumer: str
    deadline: float


class MemoryWorkQueue:
    """:class:`WorkQueue` in one process: the no-Redis twin, same semantics, for tests too."""

    def __init__(
        self,
        max_length: int = 100,
        *,
        visibility_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_length = max_length
        self.visibility_timeout = visibility_timeout
        self._clock = clock
        self._ready: deque[Delivery] = deque()
        self._in_flight: dict[str, _InFlight] = {}
        self._events: dict[str, EventList] = {}
        self._cancelled: set[str] = set()
        self._changed = asyncio.Condition()
        self._seq = 0
        self._consumers: dict[str, float] = {}  # consumer -> expiry (clock time)

    async def put(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        """Enqueue, or raise :class:`BusyError` when ``max_length`` tasks are outstanding."""
        if await self.length() >= self.max_length:
            raise BusyError("The work queue is full; retry later.")
        task_id = task_id or uuid.uuid4().hex
        self._seq += 1
        self._ready.append(Delivery(id=str(self._seq), task_id=task_id, payload=payload))
        async with self._changed:
            self._changed.notify_all()
        return task_id

    def _reclaim(self, consumer: str) -> Delivery | None:
        now = self._clock()
        for held in self._in_flight.values():
            if held.deadline <= now:
                held.delivery.attempt += 1
                held.consumer = consumer
                held.deadline = now + self.visibility_timeout
                return held.delivery
        return None

    def _next(self, consumer: str) -> Delivery | None:
        found = self._reclaim(consumer)
        if found is None and self._ready:
            found = self._ready.popleft()
            self._in_flight[found.id] = _InFlight(
                found, consumer, self._clock() + self.visibility_timeout
            )
        return found

    async def take(self, consumer: str, *, block: float = 1.0) -> Delivery | None:
        """Next delivery, reclaiming timed-out ones first; None after ``block`` seconds."""
        found = self._next(consumer)
        if found is not None or block <= 0:
            return found
        await self._wait(block)
        return self._next(consumer)

    async def _wait(self, seconds: float) -> None:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), seconds)

    async def ack(self, delivery: Delivery) -> None:
        """Forget a finished delivery (and all of a cancelled one: its owner has left)."""
        self._in_flight.pop(delivery.id, None)
        if delivery.task_id in self._cancelled:  # Redis lets these keys expire instead
            await self.discard(delivery.task_id)

    async def touch(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        """Restart the visibility timeout of deliveries ``consumer`` still holds."""
        for delivery in deliveries:
            held = self._in_flight.get(delivery.id)
            if held is not None and held.consumer == consumer:
                held.deadline = self._clock() + self.visibility_timeout

    async def length(self) -> int:
        """Queued plus in-flight tasks."""
        return len(self._ready) + len(self._in_flight)

    async def publish(self, task_id: str, event: dict[str, Any]) -> None:
        """Append an event and wake readers."""
        events = self._events.setdefault(task_id, [])
        events.append((str(len(events) + 1), event))
        async with self._changed:
            self._changed.notify_all()

    async def read_events(self, task_id: str, after: str, *, block: float = 1.0) -> EventList:
        """Events after the cursor, waiting up to ``block`` seconds for the first one."""
        start = int(after.split("-")[0]) if after != "0" else 0
        events = self._events.get(task_id, [])[start:]
        if events or block <= 0:
            return events
        await self._wait(block)
        return self._events.get(task_id, [])[start:]

    async def cancel(self, task_id: str) -> None:
        """Mark the task unwanted."""
        self._cancelled.add(task_id)

    async def is_cancelled(self, task_id: str) -> bool:
        """True after :meth:`cancel` (until :meth:`discard`)."""
        return task_id in self._cancelled

    async def discard(self, task_id: str) -> None:
        """Drop the task's events and cancel mark."""
        self._events.pop(task_id, None)
        self._cancelled.discard(task_id)

    async def announce(self, consumer: str, ttl: float) -> None:
        """Record a consumer heartbeat valid for ``ttl`` seconds."""
        self._consumers[consumer] = self._clock() + ttl

    async def withdraw(self, consumer: str) -> None:
        """Forget a consumer."""
        self._consumers.pop(consumer, None)

    async def live_consumers(self) -> int:
        """Consumers whose last heartbeat has not expired."""
        now = self._clock()
        return sum(1 for expiry in self._consumers.values() if expiry > now)

    async def close(self) -> None:
        """Nothing to release."""
