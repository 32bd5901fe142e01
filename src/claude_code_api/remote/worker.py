"""The consumer side of the work queue, and the ``claude-code-api worker`` process.

:class:`QueueWorker` takes deliveries with bounded concurrency (a semaphore, a dict of running
tasks, as arq does), runs each on an executor (its own ``WorkerPool``), publishes text deltas
and the final result or error to the task's event stream, and acks only after publishing: a
worker that dies before that leaves the task pending, and another worker re-runs it after the
visibility timeout. A task delivered more than ``max_attempts`` times is failed with
:class:`WorkerLostError` instead of being run again, so a poison task cannot kill workers
forever and the requester always hears back. SIGTERM stops taking work and drains in-flight
tasks within a grace period; tasks still running then are left un-acked for redelivery.

Cancellation: while a task runs, the worker polls ``queue.is_cancelled`` every
``cancel_poll`` seconds (one cheap call per running task; no extra protocol, works on every
backend). When the owner has given up (its client disconnected), the worker cancels its local
run, which kills the CLI's process group, publishes a final ``cancelled`` event and acks the
task, so it is never re-delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

from claude_code_api.cache.guard import ThrottledLog, reraise_if_cancelling
from claude_code_api.config import Settings, get_settings
from claude_code_api.domain import CompletionResult, TaskRequest, TextDelta
from claude_code_api.errors import CLIOutputError, WorkerLostError
from claude_code_api.remote.queue import Delivery, WorkQueue, error_event

if TYPE_CHECKING:
    from claude_code_api.remote.tool_routes import ToolRunDirectory

log = logging.getLogger(__name__)


class StreamingExecutor(Protocol):
    """What a queue worker runs tasks on (``WorkerPool`` satisfies it)."""

    def stream(self, task: TaskRequest) -> AsyncIterator[str | CompletionResult]:
        """Text deltas, then exactly one result."""
        ...


class QueueWorker:
    """Consumes a :class:`WorkQueue` with up to ``concurrency`` tasks at once."""

    def __init__(
        self,
        queue: WorkQueue,
        executor: StreamingExecutor,
        *,
        concurrency: int = 1,
        name: str | None = None,
        max_attempts: int = 2,
        heartbeat: float = 5.0,
        cancel_poll: float = 0.25,
        directory: ToolRunDirectory | None = None,
        holder: str | None = None,
        announce_until_drained: bool = False,
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.concurrency = max(1, concurrency)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.max_attempts = max_attempts
        self.heartbeat = heartbeat
        self.cancel_poll = cancel_poll
        # Where runs suspended here are recorded, under whose directed queue (tool_routes.py).
        self.directory = directory
        self.holder = holder or self.name
        # A directed queue's owners watch its consumer while their task runs: stay announced
        # (and keep heartbeats) until drain() has finished the running tasks. The shared queue
        # withdraws at once, so owners take back what it will no longer start.
        self.announce_until_drained = announce_until_drained
        self._announcing: tuple[asyncio.Task[None], asyncio.Task[None]] | None = None
        self.completed = 0  # tasks acked (finished, failed, or cancelled)
        self.cancelled = 0  # tasks whose owner gave up: skipped or stopped mid-run
        self._slots = asyncio.Semaphore(self.concurrency)
        self._beating = False
        self._running: dict[str, tuple[asyncio.Task[None], Delivery]] = {}
        # Redis away: one warning per 10 s, not one per poll (an API replica runs one of these
        # on its directed queue, next to the cache's own throttled warnings).
        self._redis_warnings = ThrottledLog(log)

    async def run(self, stop: asyncio.Event) -> None:
        """Take and run tasks until ``stop`` is set (then call :meth:`drain`)."""
        self._beating = True
        await self._announce()  # visible before the first take: owners see a live worker
        beats = asyncio.create_task(self._heartbeats())
        presence = asyncio.create_task(self._presence())
        try:
            while await self._free_slot(stop):
                delivery = None
                try:
                    if not stop.is_set():
                        delivery = await self.queue.take(self.name, block=1.0)
                except (RedisError, OSError) as exc:
                    reraise_if_cancelling(exc)
                    self._redis_warnings.warning(
                        "worker %s: queue unavailable (%s)", self.name, exc
                    )
                    await asyncio.sleep(1.0)
                if delivery is None:
                    self._slots.release()
                    continue
                job = asyncio.create_task(self._handle(delivery))
                self._running[delivery.id] = (job, delivery)
                job.add_done_callback(functools.partial(self._done, delivery.id))
        finally:
            if self.announce_until_drained and self._running:
                self._announcing = (beats, presence)  # drain() ends them
            else:
                await self._stop_announcing(beats, presence)

    async def _stop_announcing(self, *loops: asyncio.Task[None]) -> None:
        self._beating = False
        for loop_task in loops:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        with contextlib.suppress(RedisError, OSError):
            await self.queue.withdraw(self.name)

    async def _free_slot(self, stop: asyncio.Event) -> bool:
        """Wait for a free slot (True) or for ``stop`` (False), whichever comes first."""
        if stop.is_set():
            return False
        slot = asyncio.ensure_future(self._slots.acquire())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({slot, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not slot.done():
            slot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slot
        if slot.done() and not slot.cancelled():
            if stop.is_set():
                self._slots.release()
                return False
            return True
        return False

    def _done(self, key: str, _job: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        self._slots.release()

    async def drain(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for running tasks; cancel (un-acked) the rest.

        Returns how many tasks were cancelled; they will be redelivered to another worker.
        """
        try:
            jobs = [job for job, _ in self._running.values()]
            if not jobs:
                return 0
            _, pending = await asyncio.wait(jobs, timeout=grace)
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return len(pending)
        finally:
            if self._announcing is not None:
                loops, self._announcing = self._announcing, None
                await self._stop_announcing(*loops)

    #: Seconds between presence announcements; a worker unheard of for three is dead.
    PRESENCE_INTERVAL = 1.0

    async def _announce(self) -> None:
        try:
            await self.queue.announce(self.name, 3 * self.PRESENCE_INTERVAL)
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            self._redis_warnings.warning(
                "worker %s: presence announcement failed (%s)", self.name, exc
            )

    async def _presence(self) -> None:
        """Tell owners this worker is alive (they keep overflow work local when none is)."""
        while self._beating:
            await asyncio.sleep(self.PRESENCE_INTERVAL)
            await self._announce()

    async def _heartbeats(self) -> None:
        while self._beating:
            await asyncio.sleep(self.heartbeat)
            held = [delivery for _, delivery in self._running.values()]
            try:
                await self.queue.touch(self.name, held)
            except (RedisError, OSError) as exc:
                reraise_if_cancelling(exc)
                self._redis_warnings.warning("worker %s: heartbeat failed (%s)", self.name, exc)

    async def _handle(self, delivery: Delivery) -> None:
        task_id = delivery.task_id
        try:
            if delivery.attempt > self.max_attempts:
                log.error(
                    "task %s lost its worker %d times; failing it", task_id, delivery.attempt - 1
                )
                lost = WorkerLostError(
                    f"The task's worker died {delivery.attempt - 1} times; giving up on it."
                )
                await self.queue.publish(task_id, error_event(lost))
            elif await self.queue.is_cancelled(task_id) or not await self._execute(delivery):
                self.cancelled += 1
                log.info("worker %s: task %s cancelled by its owner", self.name, task_id)
                await self.queue.publish(task_id, {"type": "cancelled"})
            await self.queue.ack(delivery)
            self.completed += 1
        except (RedisError, OSError) as exc:  # cannot report: leave it pending for redelivery
            reraise_if_cancelling(exc)
            log.warning("worker %s: task %s not acked (%s)", self.name, task_id, exc)

    async def _execute(self, delivery: Delivery) -> bool:
        """Run the task, publishing its events; False if its owner cancelled it meanwhile."""
        task_id = delivery.task_id
        log.info("worker %s: running task %s (attempt %d)", self.name, task_id, delivery.attempt)
        await self.queue.publish(
            task_id, {"type": "started", "attempt": delivery.attempt, "worker": self.name}
        )
        job = asyncio.create_task(self._stream_events(delivery))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=self.cancel_poll)
                if not job.done() and await self._owner_gave_up(task_id):
                    job.cancel()  # pool.stream kills the CLI's process group on cancellation
                    await asyncio.gather(job, return_exceptions=True)
            if job.cancelled():
                return False
            job.result()  # re-raises the Redis errors that leave the task un-acked
            return True
        finally:
            if not job.done():  # we were cancelled ourselves (drain): stop the run too
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)

    async def _owner_gave_up(self, task_id: str) -> bool:
        try:
            return await self.queue.is_cancelled(task_id)
        except (RedisError, OSError) as exc:  # a blip: keep running, ask again next poll
            reraise_if_cancelling(exc)
            return False

    async def _stream_events(self, delivery: Delivery) -> None:
        task_id = delivery.task_id
        try:
            task = TaskRequest.from_dict(delivery.payload["task"])
            final: CompletionResult | None = None
            items = self.executor.stream(task)
            try:
                async for item in items:
                    if isinstance(item, CompletionResult):
                        final = item
                    else:
                        event = {"type": "delta", "text": str(item)}
                        if isinstance(item, TextDelta):  # the first one names the model
                            event["model"] = item.model
                        await self.queue.publish(task_id, event)
            finally:
                aclose = getattr(items, "aclose", None)
                if aclose is not None:
                    await aclose()
            if final is None:
                raise CLIOutputError("The executor finished without a result.")
            if self.directory is not None:  # before the owner can see the calls
                await self.directory.register(task.project_id, final, self.holder)
        except (RedisError, OSError):
            raise
        except Exception as exc:  # every task failure goes back to its owner as an event
            await self.queue.publish(task_id, error_event(exc))
            return
        await self.queue.publish(task_id, {"type": "result", "result": final.to_dict()})


async def serve_worker(
    settings: Settings, *, concurrency: int | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run a queue worker on its own ``WorkerPool`` until SIGTERM/SIGINT (or ``stop``)."""
    from claude_code_api.remote.redis_queue import RedisWorkQueue
    from claude_code_api.remote.tool_routes import ToolRunDirectory, consumer_name
    from claude_code_api.workers.pool import WorkerPool

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    size = concurrency or settings.max_workers
    queue = RedisWorkQueue.from_settings(settings)
    directory = ToolRunDirectory(queue, ttl=settings.tool_call_timeout)
    pool = WorkerPool(settings.model_copy(update={"max_workers": size}))
    await pool.start()
    name = consumer_name("worker")
    heartbeat = max(0.2, settings.visibility_timeout / 3)
    worker = QueueWorker(
        queue, pool, concurrency=size, heartbeat=heartbeat, name=name, directory=directory
    )
    # Follow-ups of the runs suspended here come on this worker's own queue; they resume a
    # parked CLI (no new slot taken by the run itself), so they do not wait for the shared
    # queue's slots.
    directed = QueueWorker(
        directory.queue_of(name),
        pool,
        concurrency=max(1, settings.max_suspended_runs),
        heartbeat=heartbeat,
        name=name,
        directory=directory,
        announce_until_drained=True,
    )
    log.info("worker %s: consuming %s with %d slots", worker.name, queue.stream, size)
    try:
        await asyncio.gather(worker.run(stop), directed.run(stop))
        left = sum(
            await asyncio.gather(
                worker.drain(settings.shutdown_grace), directed.drain(settings.shutdown_grace)
            )
        )
        log.info("worker %s: stopped (%d tasks left for redelivery)", worker.name, left)
    finally:
        await pool.close()
        await queue.close()


def main(concurrency: int | None = None) -> None:
    """Entry point of ``claude-code-api worker``: settings are read now, from the environment."""
    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("claude-code-api worker needs CCAPI_REDIS_URL (the shared queue).")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    from claude_code_api import log_redaction

    log_redaction.install()
    asyncio.run(serve_worker(settings, concurrency=concurrency))
