""":class:`WorkQueue` on Redis Streams with one consumer group: durable, at-least-once.

Why Streams (not a hand-made list protocol): a consumer group already tracks which consumer
holds which entry (the pending-entries list), counts deliveries and lets another consumer
``XAUTOCLAIM`` entries idle past the visibility timeout, i.e. a dead worker's task.

- ``put``: one Lua script checks ``XLEN`` against the bound and ``XADD``\\ s, atomically, so a
  full queue is a clean :class:`BusyError`. (``XADD MAXLEN`` would silently drop the oldest
  task instead.) Acked entries are ``XDEL``\\ ed, so ``XLEN`` counts queued + in-flight.
- ``take``: ``XAUTOCLAIM`` one entry idle longer than the visibility timeout (its delivery count
  read with ``XPENDING``), else ``XREADGROUP >`` blocking up to ``block``.
- ``touch``: ``XCLAIM … JUSTID`` by the holder resets the idle time without counting a delivery,
  so a slow task on a live worker is never handed out twice.
- Events: ``XADD`` to a per-task stream with a TTL; the owning replica ``XREAD``\\ s it.
- Consumers: a sorted set of worker names scored by the expiry of their last heartbeat, so an
  API replica can tell that no worker is alive and keep overflow work local (a SIGKILLed
  worker drops out when its heartbeat expires).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from claude_code_api.cache.guard import make_client
from claude_code_api.cache.keys import RedisKeys
from claude_code_api.config import Settings
from claude_code_api.errors import BusyError
from claude_code_api.remote.queue import Delivery, EventList

GROUP = "workers"
#: TTL of the queue stream, refreshed by every put (an idle deployment's queue goes away).
QUEUE_TTL = 7 * 24 * 3600
#: Longest single blocking read; the queue client's socket timeout must exceed it.
MAX_BLOCK = 2.0

_PUT = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[1], '*', 'task_id', ARGV[2], 'payload', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return id
"""


class RedisWorkQueue:
    """The distributed :class:`~claude_code_api.remote.queue.WorkQueue`."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        name: str = "tasks",
        max_length: int = 100,
        visibility_timeout: float = 60.0,
        event_ttl: float = 300.0,
        owns_client: bool = True,
        stream: str | None = None,
        ttl: float = QUEUE_TTL,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.stream = stream or self.keys.queue(name)
        self.ttl = max(1, int(ttl))
        self.max_length = max_length
        self.visibility_timeout = visibility_timeout
        self.event_ttl = max(1, int(event_ttl))
        self._owns_client = owns_client
        self._put = client.register_script(_PUT)
        self._group_ready = False

    @classmethod
    def from_settings(cls, settings: Settings, *, name: str = "tasks") -> RedisWorkQueue:
        """Queue on its own pooled client configured from settings (needs ``redis_url``)."""
        if not settings.redis_url:
            raise ValueError("RedisWorkQueue needs CCAPI_REDIS_URL")
        client = make_client(settings.redis_url, socket_timeout=MAX_BLOCK + 3.0)
        return cls(
            client,
            settings.redis_prefix,
            name=name,
            max_length=settings.queue_max,
            visibility_timeout=settings.visibility_timeout,
            event_ttl=max(settings.result_ttl, settings.task_timeout * 2),
        )

    def direct(self, consumer: str, *, ttl: float) -> RedisWorkQueue:
        """The queue of tasks for ``consumer`` alone, on this queue's client (not owned).

        Same protocol and event streams as this queue; its stream expires ``ttl`` seconds after
        the last put (a consumer's name is unique to its process, so a dead one's stream must
        not linger for the shared queue's week).
        """
        return RedisWorkQueue(
            self.client,
            self.keys.prefix,
            max_length=self.max_length,
            visibility_timeout=self.visibility_timeout,
            event_ttl=self.event_ttl,
            owns_client=False,
            stream=self.keys.direct_queue(consumer),
            ttl=ttl,
        )

    async def _ensure_group(self, *, force: bool = False) -> None:
        if self._group_ready and not force:
            return
        try:
            # id "0": a group created after producers already added tasks still sees them
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self.client.expire(self.stream, self.ttl, nx=True)
        self._group_ready = True

    async def put(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        """XADD unless ``max_length`` tasks are outstanding (then :class:`BusyError`)."""
        task_id = task_id or uuid.uuid4().hex
        await self._ensure_group()
        body = json.dumps(payload, separators=(",", ":"))
        added = await self._put(keys=[self.stream], args=[self.max_length, task_id, body, self.ttl])
        if not added:
            raise BusyError("The work queue is full; retry later.")
        return task_id

    async def _delivery_count(self, message_id: str) -> int:
        rows: Any = await self.client.xpending_range(
            self.stream, GROUP, min=message_id, max=message_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 1

    @staticmethod
    def _delivery(message_id: str, fields: dict[str, str], attempt: int) -> Delivery:
        return Delivery(
            id=message_id,
            task_id=fields["task_id"],
            payload=json.loads(fields["payload"]),
            attempt=attempt,
        )

    async def take(self, consumer: str, *, block: float = 1.0) -> Delivery | None:
        """A timed-out delivery (XAUTOCLAIM) first, else a new one (XREADGROUP)."""
        await self._ensure_group()
        try:
            claimed: Any = await self.client.xautoclaim(
                self.stream,
                GROUP,
                consumer,
                min_idle_time=int(self.visibility_timeout * 1000),
                start_id="0-0",
                count=1,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._ensure_group(force=True)  # the stream expired or was deleted
            return None
        entries = claimed[1]
        if len(claimed) > 2 and claimed[2]:  # deleted while pending: nothing left to run
            await self.client.xack(self.stream, GROUP, *claimed[2])
        for message_id, fields in entries:
            if fields:
                attempt = await self._delivery_count(message_id)
                return self._delivery(message_id, fields, attempt)
        read: Any = await self.client.xreadgroup(
            GROUP,
            consumer,
            {self.stream: ">"},
            count=1,
            block=max(1, int(min(block, MAX_BLOCK) * 1000)),
        )
        for _stream, messages in read or []:
            for message_id, fields in messages:
                return self._delivery(message_id, fields, 1)
        return None

    async def ack(self, delivery: Delivery) -> None:
        """XACK + XDEL: the entry no longer counts against the bound."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, delivery.id)
            pipe.xdel(self.stream, delivery.id)
            await pipe.execute()

    async def touch(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        """XCLAIM JUSTID to ourselves: resets idle time, delivery count unchanged."""
        if deliveries:
            await self.client.xclaim(
                self.stream, GROUP, consumer, 0, [d.id for d in deliveries], justid=True
            )

    async def length(self) -> int:
        """Queued plus in-flight tasks."""
        return int(await self.client.xlen(self.stream))

    async def publish(self, task_id: str, event: dict[str, Any]) -> None:
        """XADD the event to the task's stream and (re)set the stream's TTL."""
        key = self.keys.task_events(task_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": json.dumps(event, separators=(",", ":"))})
            pipe.expire(key, self.event_ttl)
            await pipe.execute()

    async def read_events(self, task_id: str, after: str, *, block: float = 1.0) -> EventList:
        """XREAD the task's events after ``after``, blocking up to ``block`` seconds."""
        key = self.keys.task_events(task_id)
        block_ms = int(min(block, MAX_BLOCK) * 1000)
        read: Any = await self.client.xread({key: after}, block=block_ms or None)
        return [
            (message_id, json.loads(fields["e"]))
            for _stream, messages in read or []
            for message_id, fields in messages
        ]

    async def cancel(self, task_id: str) -> None:
        """Set the task's cancel marker (expires with the events)."""
        await self.client.set(self.keys.task_cancel(task_id), "1", ex=self.event_ttl)

    async def is_cancelled(self, task_id: str) -> bool:
        """True if the owner gave up on the task."""
        return bool(await self.client.exists(self.keys.task_cancel(task_id)))

    async def discard(self, task_id: str) -> None:
        """Delete the task's event stream and cancel marker (best effort)."""
        # both keys carry TTLs: if Redis is away now they go away by themselves
        with contextlib.suppress(RedisError, OSError):
            await self.client.delete(self.keys.task_events(task_id), self.keys.task_cancel(task_id))

    async def announce(self, consumer: str, ttl: float) -> None:
        """ZADD the consumer with its heartbeat's expiry (the set itself expires too)."""
        key = self.keys.workers(self.stream)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {consumer: time.time() + ttl})
            pipe.expire(key, max(1, int(ttl * 2)))
            await pipe.execute()

    async def withdraw(self, consumer: str) -> None:
        """ZREM the consumer."""
        await self.client.zrem(self.keys.workers(self.stream), consumer)

    async def live_consumers(self) -> int:
        """Consumers whose heartbeat has not expired (expired ones are pruned)."""
        key = self.keys.workers(self.stream)
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            _pruned, count = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        """Close the pool (if this queue created the client)."""
        if self._owns_client:
            await self.client.aclose()
