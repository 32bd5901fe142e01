"""Where a suspended run lives: tool follow-ups routed to the process that holds the run.

A run suspended on client tool calls (:mod:`claude_code_api.workers.suspended`) is a CLI
process waiting inside one process: an API replica's local pool or a ``claude-code-api worker``.
The request bringing the results may reach any replica. So every consumer that can park a run
has a name and its own *directed* queue (:meth:`RedisWorkQueue.direct`, consumed by a
:class:`~claude_code_api.remote.worker.QueueWorker` that announces itself there), and when a run
suspends its consumer records ``(project, tool call id) → consumer`` here, with the tool-call
timeout as TTL (the run ends then anyway). A replica receiving the follow-up looks the ids up
(:meth:`ToolRunDirectory.holder`) and, if that consumer is alive, sends the task to its
directed queue; the answer comes back on the task's event stream like any queued task.

The project is part of the key, so a follow-up of another project never finds the run (the
holder's own lookup, :meth:`SuspendedRuns.claim`, is scoped the same way). Everything here is
a hint: a lookup that fails (Redis away), names a dead consumer or a consumer that no longer
holds the run leads to the rebuild the request carries anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Sequence

from redis.exceptions import RedisError

from claude_code_api.cache.guard import reraise_if_cancelling
from claude_code_api.domain import CompletionResult
from claude_code_api.remote.redis_queue import RedisWorkQueue

log = logging.getLogger(__name__)


def consumer_name(kind: str) -> str:
    """A name unique to this process and call: ``<kind>-<host>-<pid>-<random>``."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ToolRunDirectory:
    """Who holds which suspended run, and each holder's directed queue (Redis only).

    Example::

        directory = ToolRunDirectory(queue, ttl=settings.tool_call_timeout)
        await directory.register("acme", result, "worker-h-12-ab12cd")   # when a run suspends
        await directory.holder("acme", ["toolu_1"])       # -> "worker-h-12-ab12cd"
        directory.queue_of("worker-h-12-ab12cd")          # where its follow-ups go
    """

    #: Directed queues kept (their consumer group is known to exist); the oldest goes first.
    MAX_QUEUES = 64

    def __init__(self, queue: RedisWorkQueue, *, ttl: float) -> None:
        self.queue = queue
        self.keys = queue.keys
        self.ttl = max(1, int(ttl))
        self._queues: dict[str, RedisWorkQueue] = {}

    def queue_of(self, consumer: str) -> RedisWorkQueue:
        """The directed queue of ``consumer`` (its stream outlives a follow-up's wait)."""
        found = self._queues.pop(consumer, None)
        if found is None:
            found = self.queue.direct(consumer, ttl=self.ttl * 2)
            if len(self._queues) >= self.MAX_QUEUES:
                del self._queues[next(iter(self._queues))]
        self._queues[consumer] = found  # most recently used last
        return found

    async def register(self, project_id: str, result: CompletionResult, consumer: str) -> None:
        """Record ``consumer`` as the holder of ``result``'s calls if the run was parked."""
        if not (result.suspended and result.tool_calls):
            return
        try:
            async with self.queue.client.pipeline(transaction=False) as pipe:
                for call in result.tool_calls:
                    key = self.keys.tool_run_holder(project_id, call.id)
                    pipe.set(key, consumer, ex=self.ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # its follow-up will be rebuilt elsewhere
            reraise_if_cancelling(exc)
            log.warning("could not record the holder of a suspended run (%s)", exc)

    async def holder(self, project_id: str, call_ids: Sequence[str]) -> str | None:
        """The consumer recorded for any of ``call_ids`` of ``project_id`` (None: unknown)."""
        if not call_ids:
            return None
        keys = [self.keys.tool_run_holder(project_id, i) for i in call_ids]
        try:
            found: list[str | bytes | None] = await self.queue.client.mget(keys)
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            return None
        for value in found:
            if value:
                return value.decode() if isinstance(value, bytes) else value
        return None

    async def alive(self, consumer: str) -> bool:
        """Whether ``consumer`` still announces itself on its directed queue."""
        try:
            return await self.queue_of(consumer).live_consumers() > 0
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            return False
