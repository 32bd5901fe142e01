"""The distributed executor: run locally while a local worker is free, else through the queue.

It satisfies the ``Executor`` protocol (``run``, ``stream``) the API calls. Remote tasks go to a
:class:`~claude_code_api.remote.queue.WorkQueue`; a ``claude-code-api worker`` process (or an API
replica's :class:`~claude_code_api.remote.worker.QueueWorker`) runs them and publishes events
that this replica, the owner of the request, reads back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from claude_code_api.cache.guard import reraise_if_cancelling
from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest, TextDelta
from claude_code_api.errors import (
    BusyError,
    TaskCancelledError,
    TaskTimeoutError,
    WorkerLostError,
)
from claude_code_api.remote.queue import WorkQueue, error_from_event

if TYPE_CHECKING:
    from claude_code_api.remote.tool_routes import ToolRunDirectory
    from claude_code_api.remote.worker import QueueWorker

log = logging.getLogger(__name__)


#: Seconds between checks, while a queued task waits to start, that some worker is alive.
PRESENCE_CHECK = 1.0


class _TakenBack(Exception):  # noqa: N818 - a signal between two methods, not an error
    """No worker is alive to start a queued task (or, for a tool follow-up sent to the
    holder of its run, to finish it): run it another way instead."""


class LocalPool(Protocol):
    """The part of ``WorkerPool`` the executor needs."""

    async def run(self, task: TaskRequest) -> CompletionResult:
        """Run one task to completion."""
        ...

    def stream(self, task: TaskRequest) -> AsyncIterator[str | CompletionResult]:
        """Text deltas, then exactly one result."""
        ...

    def stats(self) -> Any:
        """An object with ``busy``, ``queued`` and ``max_workers``."""
        ...

    def holds_run_for(self, task: TaskRequest) -> bool:
        """Whether a run suspended in this pool waits for ``task``'s tool results."""
        ...


class DistributedExecutor:
    """``run``/``stream`` on the local pool when it has a free worker, else on the shared queue.

    Waiting for a remote task is bounded: ``start_timeout`` for some worker to start it (then
    :class:`TaskTimeoutError`, and the task is marked cancelled), ``idle_timeout`` between two
    events once started (then :class:`WorkerLostError`). A streamed task whose worker died after
    deltas were sent fails with :class:`WorkerLostError` rather than replaying text.

    Giving up on a remote task (``run`` cancelled, ``stream`` closed early or cancelled, a
    timeout) marks it cancelled in the queue, whether or not a worker started it: a worker
    running it kills its CLI, and a worker taking it later skips it.

    No stranded work: overflow goes to the queue only while some worker is alive (workers
    announce themselves, see ``WorkQueue.announce``), and a queued task that no worker has
    started is taken back as soon as no worker is alive (marked cancelled, then run on the
    local pool, which queues it until a slot frees). A lone API replica thus never waits for a
    worker that does not exist; with Redis down the local pool is used too.
    """

    def __init__(
        self,
        queue: WorkQueue,
        local_pool: LocalPool | None = None,
        *,
        start_timeout: float = 120.0,
        idle_timeout: float = 100.0,
        directory: ToolRunDirectory | None = None,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.local_pool = local_pool
        self.start_timeout = start_timeout
        self.idle_timeout = idle_timeout
        self.directory = directory
        self.name = name or f"api-{uuid.uuid4().hex}"
        self._directed: tuple[QueueWorker, asyncio.Event, asyncio.Task[None]] | None = None
        self._directed_grace = 0.0

    @classmethod
    async def create(
        cls, settings: Settings, local_pool: LocalPool | None = None
    ) -> DistributedExecutor:
        """Executor over the Redis queue configured by ``settings`` (needs ``redis_url``)."""
        from claude_code_api.remote.redis_queue import RedisWorkQueue
        from claude_code_api.remote.tool_routes import ToolRunDirectory, consumer_name

        queue = RedisWorkQueue.from_settings(settings)
        made = cls(
            queue,
            local_pool,
            start_timeout=settings.task_timeout * 2 + settings.visibility_timeout,
            idle_timeout=settings.task_timeout + settings.visibility_timeout + 5,
            directory=ToolRunDirectory(queue, ttl=settings.tool_call_timeout),
            name=consumer_name("api"),
        )
        if local_pool is not None and settings.max_suspended_runs > 0:
            made.serve_directed(
                concurrency=settings.max_suspended_runs,
                heartbeat=max(0.2, settings.visibility_timeout / 3),
                grace=settings.shutdown_grace,
            )
        return made

    def serve_directed(
        self, *, concurrency: int = 1, heartbeat: float = 5.0, grace: float = 0.0
    ) -> None:
        """Consume this replica's directed queue on the local pool (until :meth:`close`):
        follow-ups that other replicas route here because a run suspended in this pool."""
        from claude_code_api.remote.worker import QueueWorker

        if self.directory is None or self.local_pool is None or self._directed is not None:
            return
        worker = QueueWorker(
            self.directory.queue_of(self.name),
            _Recording(self),
            concurrency=concurrency,
            name=self.name,
            heartbeat=heartbeat,
            announce_until_drained=True,
        )
        stop = asyncio.Event()
        self._directed_grace = grace
        self._directed = (worker, stop, asyncio.create_task(worker.run(stop)))

    async def workers_alive(self) -> bool:
        """Whether some queue worker announced itself recently (False when Redis is away)."""
        try:
            return await self.queue.live_consumers() > 0
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            return False

    async def _go_local(self, task: TaskRequest) -> bool:
        """Run on the local pool: it holds the suspended run the task's tool results resume
        (elsewhere the conversation would start afresh), it has a free slot, or no worker
        could take the task."""
        if self.local_pool is None:
            return False
        if task.tool_results and self.local_pool.holds_run_for(task):
            return True
        return self.local_has_room() or not await self.workers_alive()

    async def _holder_elsewhere(self, task: TaskRequest) -> str | None:
        """The live consumer (not this replica's pool) holding the run ``task`` resumes."""
        if not task.tool_results or self.directory is None:
            return None
        if self.local_pool is not None and self.local_pool.holds_run_for(task):
            return None
        ids = [r.tool_call_id for r in task.tool_results]
        holder = await self.directory.holder(task.project_id, ids)
        if holder is None or holder == self.name or not await self.directory.alive(holder):
            return None
        return holder

    def local_has_room(self) -> bool:
        """True when the local pool would start a task now instead of queueing it."""
        if self.local_pool is None:
            return False
        stats = self.local_pool.stats()
        return int(stats.busy) + int(stats.queued) < int(stats.max_workers)

    async def run(self, task: TaskRequest) -> CompletionResult:
        """Run ``task`` locally or remotely; raises the task's domain error."""
        async with contextlib.aclosing(self.stream(task, streaming=False)) as items:
            async for item in items:
                if isinstance(item, CompletionResult):
                    return item
        raise WorkerLostError("task ended without a result")  # pragma: no cover

    async def stream(
        self, task: TaskRequest, *, streaming: bool = True
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas then exactly one :class:`CompletionResult`, locally or remotely
        (``streaming=False``: the result alone, no deltas)."""
        holder = await self._holder_elsewhere(task)
        if holder is not None:
            try:
                async with contextlib.aclosing(
                    self._remote(task, streaming=streaming, consumer=holder)
                ) as items:
                    async for item in items:
                        yield item
                return
            except _TakenBack:  # the holder died (nothing was yielded): rebuild
                log.info("the holder %s of a suspended run is gone: rebuilding", holder)
        async with contextlib.aclosing(self._dispatch(task, streaming=streaming)) as items:
            async for item in items:
                yield item

    async def _dispatch(
        self, task: TaskRequest, *, streaming: bool
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """The ordinary path: the local pool, or the shared queue (taken back when no worker
        is alive). Closing it early kills the CLI process."""
        source: AsyncIterator[str | CompletionResult]
        if await self._go_local(task):
            source = self._local(task, streaming=streaming)
        else:
            source = self._remote(task, streaming=streaming)
        try:
            try:
                async for item in source:
                    yield item
            except _TakenBack:  # nothing was yielded: no worker ever started the task
                await _aclose(source)
                source = self._local(task, streaming=streaming)
                async for item in source:
                    yield item
        finally:
            await _aclose(source)

    async def _local(
        self, task: TaskRequest, *, streaming: bool
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """The task on the local pool; a run it suspends is recorded as held here."""
        assert self.local_pool is not None
        if not streaming:
            result = await self.local_pool.run(task)
            await self._record(task, result)
            yield result
            return
        source = self.local_pool.stream(task)
        try:
            async for item in source:
                if isinstance(item, CompletionResult):
                    await self._record(task, item)
                yield item
        finally:
            await _aclose(source)

    async def _record(self, task: TaskRequest, result: CompletionResult) -> None:
        if self.directory is not None and self._directed is not None:
            await self.directory.register(task.project_id, result, self.name)

    async def _enqueue(self, task: TaskRequest, task_id: str, queue: WorkQueue) -> None:
        try:
            await queue.put({"task": task.to_dict()}, task_id=task_id)
        except asyncio.CancelledError:  # the task may be queued already: nobody must run it
            await asyncio.shield(self._abandon(task_id))
            raise
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            log.warning("work queue unavailable (%s); refusing the task", type(exc).__name__)
            raise BusyError(
                "All local workers are busy and the work queue is unavailable."
            ) from exc

    async def _remote(
        self, task: TaskRequest, *, streaming: bool, consumer: str | None = None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """The task through the shared queue, or ``consumer``'s directed queue; raises
        :class:`_TakenBack` if no (such) consumer is alive before it starts (the directed
        consumer: before it finishes, as long as no text was streamed)."""
        task_id = uuid.uuid4().hex
        queue = self.queue
        if consumer is not None:
            assert self.directory is not None
            queue = self.directory.queue_of(consumer)
        try:
            await self._enqueue(task, task_id, queue)  # refused (busy): nothing to clean up
        except BusyError:
            if consumer is None:
                raise
            raise _TakenBack from None  # the holder's queue is full or away: rebuild
        cursor, started, sent_text, finished = "0", 0, False, False
        deadline = time.monotonic() + self.start_timeout
        next_presence_check = time.monotonic() + PRESENCE_CHECK
        try:
            while True:
                # A cancel that redis-py (or a timeout helper inside it) absorbed mid-read
                # still shows in cancelling(): honour it instead of waiting out the deadline.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError
                now = time.monotonic()
                # A directed task has no other consumer to be redelivered to: its holder's
                # death is watched after the start too (the run it resumed died with it).
                watch = (not started and self.local_pool is not None) or consumer is not None
                if watch and now >= next_presence_check:
                    next_presence_check = now + PRESENCE_CHECK
                    if not await self._consumer_alive(consumer):
                        if sent_text:  # streamed part of the answer: cannot start over
                            raise WorkerLostError(
                                "The worker streaming this answer died after sending part of it."
                            )
                        log.info("no live consumer for task %s: taking it back", task_id)
                        raise _TakenBack  # the finally marks it cancelled
                left = deadline - time.monotonic()
                if left <= 0:
                    if not started:
                        raise TaskTimeoutError(
                            f"No worker started the task within {self.start_timeout:.0f}s."
                        )
                    raise WorkerLostError(
                        f"The worker running the task went silent for {self.idle_timeout:.0f}s."
                    )
                try:
                    events = await self.queue.read_events(task_id, cursor, block=min(left, 1.0))
                except (RedisError, OSError) as exc:  # Redis restarting: wait until deadline
                    reraise_if_cancelling(exc)
                    await asyncio.sleep(0.2)
                    continue
                for event_id, event in events:
                    cursor = event_id
                    deadline = time.monotonic() + self.idle_timeout
                    kind = event.get("type")
                    if kind == "started":
                        started = int(event.get("attempt", 1))
                        if started > 1 and sent_text and streaming:
                            raise WorkerLostError(
                                "The worker streaming this answer died after sending part of it."
                            )
                    elif kind == "delta" and streaming:
                        sent_text = True
                        text, model = str(event.get("text", "")), event.get("model")
                        yield TextDelta(text, model=str(model)) if model else text
                    elif kind == "result":
                        finished = True
                        yield CompletionResult.from_dict(event["result"])
                        return
                    elif kind == "error":
                        finished = True
                        raise error_from_event(event.get("error", {}))
                    elif kind == "cancelled":  # someone else gave up on it
                        finished = True
                        raise TaskCancelledError("The task was cancelled.")
        finally:
            if finished:
                await self.queue.discard(task_id)
            else:  # the cancel mark stays: the worker acts on it (it expires on Redis)
                await asyncio.shield(self._abandon(task_id))

    async def _consumer_alive(self, consumer: str | None) -> bool:
        if consumer is None:
            return await self.workers_alive()
        assert self.directory is not None
        return await self.directory.alive(consumer)

    async def _abandon(self, task_id: str) -> None:
        try:
            await self.queue.cancel(task_id)
        except (RedisError, OSError):
            log.warning("could not mark abandoned task %s cancelled", task_id)

    async def close(self) -> None:
        """Stop consuming the directed queue, close the queue's connections (the local pool is
        closed by its owner)."""
        if self._directed is not None:
            worker, stop, job = self._directed
            stop.set()
            await job
            await worker.drain(self._directed_grace)
            self._directed = None
        await self.queue.close()


class _Recording:
    """The local pool as the directed queue's worker runs it: a run that suspends again (a
    tool loop's next step) stays recorded as held by this replica."""

    def __init__(self, executor: DistributedExecutor) -> None:
        self.executor = executor

    def stream(self, task: TaskRequest) -> AsyncIterator[str | CompletionResult]:
        """Text deltas, then exactly one result, from the local pool."""
        return self.executor._local(task, streaming=True)


async def _aclose(source: AsyncIterator[Any]) -> None:
    aclose = getattr(source, "aclose", None)  # closing early kills the CLI process
    if aclose is not None:
        await aclose()


if TYPE_CHECKING:  # DistributedExecutor must satisfy the API's Executor protocol
    from claude_code_api.workers.pool import Executor

    def _satisfies(executor: DistributedExecutor) -> Executor:
        return executor
