"""The work queue and the distributed executor, on both queue backends, with the real pool.

Tasks run on a real :class:`WorkerPool` driving the simulated CLI (``demo=True``); the queue
worker runs in this process. Worker *processes* are covered in ``test_worker_process.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from claude_code_api.cache import (
    Cache,
    DistributedExecutor,
    MemoryBackend,
    QueueWorker,
    WorkQueue,
)
from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest, TextDelta
from claude_code_api.errors import (
    BusyError,
    CLIError,
    CLIExitError,
    TaskTimeoutError,
    UpstreamOverloadedError,
    WorkerLostError,
)
from claude_code_api.remote.queue import error_event, error_from_event
from claude_code_api.workers import WorkerPool

from .conftest import make_queue


@pytest.fixture
async def queue(queue_kind: str, redis_url: str, redis_prefix: str) -> AsyncIterator[WorkQueue]:
    made = make_queue(queue_kind, redis_url, redis_prefix, max_length=3, visibility_timeout=0.3)
    yield made
    await made.close()


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    made = WorkerPool(Settings(demo=True, max_workers=1, queue_max=5, task_timeout=20))
    await made.start()
    yield made
    await made.close(grace=1)


class RunningWorker:
    """A QueueWorker running in the background of a test."""

    def __init__(self, worker: QueueWorker) -> None:
        self.worker = worker
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(worker.run(self.stop))

    async def shutdown(self, grace: float = 5.0) -> int:
        self.stop.set()
        await self.task
        return await self.worker.drain(grace)


async def test_queue_operations(queue: WorkQueue) -> None:
    assert await queue.take("c1", block=0.05) is None
    first = await queue.put({"prompt": "one"})
    second = await queue.put({"prompt": "two"}, task_id="chosen-id")
    assert second == "chosen-id"
    assert await queue.length() == 2
    got = await queue.take("c1")
    assert got is not None
    assert (got.task_id, got.payload, got.attempt) == (first, {"prompt": "one"}, 1)
    await queue.put({"prompt": "three"})
    with pytest.raises(BusyError):  # bound 3: two queued + one in flight
        await queue.put({"prompt": "four"})
    await queue.ack(got)
    assert await queue.length() == 2
    nxt = await queue.take("c2")
    assert nxt is not None and nxt.payload == {"prompt": "two"}
    await queue.ack(nxt)


async def test_seed_queue_functions(queue: WorkQueue) -> None:
    cache = Cache(MemoryBackend(), queue)
    assert await cache.dequeue_request() is None
    request_id = await cache.queue_request({"model": "haiku", "prompt": "Task 1"})
    await cache.queue_request({"model": "haiku", "prompt": "Task 2"})
    assert isinstance(request_id, str) and request_id
    assert await cache.dequeue_request() == {"model": "haiku", "prompt": "Task 1"}
    assert await cache.dequeue_request() == {"model": "haiku", "prompt": "Task 2"}
    assert await cache.dequeue_request() is None
    assert await queue.length() == 0


async def test_unacked_delivery_is_redelivered_after_visibility_timeout(queue: WorkQueue) -> None:
    task_id = await queue.put({"n": 1})
    lost = await queue.take("dead-consumer")
    assert lost is not None
    assert await queue.take("live", block=0.05) is None  # not yet: still within the timeout
    await asyncio.sleep(0.4)
    again = await queue.take("live", block=0.05)
    assert again is not None
    assert (again.task_id, again.attempt) == (task_id, 2)
    await queue.ack(again)
    assert await queue.length() == 0


async def test_heartbeat_keeps_a_slow_task_with_its_worker(queue: WorkQueue) -> None:
    await queue.put({"n": 1})
    held = await queue.take("slow-but-alive")
    assert held is not None
    for _ in range(4):  # 0.6 s in all, twice the visibility timeout
        await asyncio.sleep(0.15)
        await queue.touch("slow-but-alive", [held])
        assert await queue.take("other", block=0) is None
    await queue.ack(held)


async def test_task_events_and_cancel_marks(queue: WorkQueue) -> None:
    assert await queue.read_events("t1", "0", block=0.05) == []
    await queue.publish("t1", {"type": "delta", "text": "a"})
    await queue.publish("t1", {"type": "delta", "text": "b"})
    events = await queue.read_events("t1", "0")
    assert [e for _, e in events] == [
        {"type": "delta", "text": "a"},
        {"type": "delta", "text": "b"},
    ]
    assert await queue.read_events("t1", events[0][0]) == events[1:]
    assert await queue.is_cancelled("t1") is False
    await queue.cancel("t1")
    assert await queue.is_cancelled("t1") is True
    await queue.discard("t1")
    assert await queue.is_cancelled("t1") is False
    assert await queue.read_events("t1", "0", block=0.05) == []


async def test_remote_run_and_stream(queue: WorkQueue, pool: WorkerPool) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=20)
    running = RunningWorker(QueueWorker(queue, pool, concurrency=1, heartbeat=0.1))
    task = TaskRequest(prompt="hello over the queue", model="haiku", project_id="acme")
    result = await executor.run(task)
    assert "You said: hello over the queue" in result.text
    assert result.usage.output_tokens > 0
    with_image = TaskRequest(
        prompt="and this picture",
        model="haiku",
        images=[{"type": "url", "url": "https://example.com/cat.png"}],
    )
    assert "[image https://example.com/cat.png]" in (await executor.run(with_image)).text

    items = [item async for item in executor.stream(task)]
    deltas, final = items[:-1], items[-1]
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, CompletionResult)
    assert "".join(str(d) for d in deltas) == final.text
    assert isinstance(deltas[0], TextDelta) and deltas[0].model == final.model  # crossed Redis

    with pytest.raises(UpstreamOverloadedError):  # the task's own error crosses the queue
        await executor.run(TaskRequest(prompt="[[sim:error=overloaded]] hi", model="haiku"))
    with pytest.raises(CLIExitError):
        await executor.run(TaskRequest(prompt="[[sim:exit=3]] hi", model="haiku"))
    assert await running.shutdown() == 0
    assert running.worker.completed == 5
    assert await queue.length() == 0


async def test_lost_task_is_retried_once_then_failed(queue: WorkQueue, pool: WorkerPool) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=20)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="unlucky", model="haiku")))
    for _ in range(2):  # two workers take the task and die without acking
        delivery = None
        while delivery is None:
            delivery = await queue.take("doomed", block=0.5)
        await queue.publish(delivery.task_id, {"type": "started", "attempt": delivery.attempt})
    running = RunningWorker(QueueWorker(queue, pool, heartbeat=0.1))
    with pytest.raises(WorkerLostError, match="died 2 times"):
        await run
    await running.shutdown()
    assert await queue.length() == 0


async def test_lost_task_is_rerun_by_another_worker(queue: WorkQueue, pool: WorkerPool) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=20)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="second chance", model="haiku")))
    delivery = None
    while delivery is None:
        delivery = await queue.take("doomed", block=0.5)
    running = RunningWorker(QueueWorker(queue, pool, heartbeat=0.1))
    result = await run
    assert "second chance" in result.text
    await running.shutdown()


async def test_stream_fails_cleanly_when_its_worker_dies_mid_answer(queue: WorkQueue) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=20)
    stream = executor.stream(TaskRequest(prompt="p", model="haiku"))
    first = asyncio.create_task(anext(stream))
    delivery = None
    while delivery is None:
        delivery = await queue.take("w1", block=0.5)
    await queue.publish(delivery.task_id, {"type": "started", "attempt": 1})
    await queue.publish(delivery.task_id, {"type": "delta", "text": "partial "})
    assert await first == "partial "
    await queue.publish(delivery.task_id, {"type": "started", "attempt": 2})
    with pytest.raises(WorkerLostError, match="after sending part"):
        await anext(stream)


async def test_nobody_starts_the_task(queue: WorkQueue, pool: WorkerPool) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=0.3, idle_timeout=5)
    with pytest.raises(TaskTimeoutError):
        await executor.run(TaskRequest(prompt="too late", model="haiku"))
    # the abandoned task is skipped (acked without running) by the next worker
    running = RunningWorker(QueueWorker(queue, pool, heartbeat=0.1))
    while await queue.length():
        await asyncio.sleep(0.05)
    await running.shutdown()
    assert running.worker.completed == 1
    assert pool.stats().busy == 0


async def test_silent_worker_is_reported_lost(queue: WorkQueue) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=5, idle_timeout=0.3)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="p", model="haiku")))
    delivery = None
    while delivery is None:
        delivery = await queue.take("w1", block=0.5)
    await queue.publish(delivery.task_id, {"type": "started", "attempt": 1})
    with pytest.raises(WorkerLostError, match="went silent"):
        await run


async def test_executor_runs_locally_while_the_pool_has_room(
    queue: WorkQueue, pool: WorkerPool
) -> None:
    executor = DistributedExecutor(queue, pool, start_timeout=20, idle_timeout=20)
    assert executor.local_has_room()
    local = await executor.run(TaskRequest(prompt="local", model="haiku"))
    assert "local" in local.text
    items = [i async for i in executor.stream(TaskRequest(prompt="local stream", model="haiku"))]
    assert isinstance(items[-1], CompletionResult)
    assert await queue.length() == 0  # nothing went through the queue

    # occupy the only local worker: with a queue worker alive, the next task goes to the queue
    other_pool = WorkerPool(Settings(demo=True, max_workers=1))
    await other_pool.start()
    consumer = QueueWorker(queue, other_pool, heartbeat=0.1)
    running = RunningWorker(consumer)
    while not await executor.workers_alive():
        await asyncio.sleep(0.01)
    slow = asyncio.create_task(pool.run(TaskRequest(prompt="[[sim:delay=1]] slow", model="haiku")))
    while pool.stats().busy == 0:
        await asyncio.sleep(0.01)
    assert not executor.local_has_room()
    assert "remote" in (await executor.run(TaskRequest(prompt="remote", model="haiku"))).text
    while consumer.completed == 0:  # the queue worker ran it (it acks just after publishing)
        await asyncio.sleep(0.01)
    await slow
    await running.shutdown()
    await other_pool.close(grace=1)


async def test_full_queue_is_busy(queue: WorkQueue) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=0.2, idle_timeout=1)
    for n in range(3):
        await queue.put({"filler": n})
    with pytest.raises(BusyError):
        await executor.run(TaskRequest(prompt="no room", model="haiku"))


async def test_shutdown_leaves_unfinished_tasks_for_redelivery(
    queue: WorkQueue, pool: WorkerPool
) -> None:
    await queue.put({"task": TaskRequest(prompt="[[sim:delay=5]] slow", model="haiku").to_dict()})
    running = RunningWorker(QueueWorker(queue, pool, heartbeat=0.1))
    while pool.stats().busy == 0:
        await asyncio.sleep(0.02)
    assert await running.shutdown(grace=0.1) == 1  # drained past the grace: cancelled
    # Not acked: another worker gets it once the visibility timeout (0.3 s) has passed since
    # the last heartbeat (polled: under load the cancelled worker's last beat may come late).
    again = None
    for _ in range(20):
        if (again := await queue.take("next-worker", block=0.25)) is not None:
            break
    assert again is not None and again.attempt == 2


def test_errors_cross_the_queue() -> None:
    rebuilt = error_from_event(error_event(UpstreamOverloadedError("busy upstream"))["error"])
    assert isinstance(rebuilt, UpstreamOverloadedError) and rebuilt.message == "busy upstream"
    generic = error_from_event(error_event(RuntimeError("secret stack"))["error"])
    assert type(generic) is CLIError and "secret" not in generic.message
    unknown = error_from_event({"class": "NotAnError", "message": "m", "detail": "d"})
    assert type(unknown) is CLIError and unknown.detail == "d"
