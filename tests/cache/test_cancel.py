"""Cancelling a task a queue worker already runs: the owner gives up, the worker's CLI dies.

Both queue backends, a :class:`QueueWorker` in this process on a real :class:`WorkerPool`
driving the simulated CLI. The CLI writes its own pid and its child's pid to a pidfile
(``[[sim:spawn_child]]`` + ``CLAUDE_CODE_SIM_PIDFILE``), so the tests see the real processes.
Worker *processes* on Redis are covered in ``test_worker_process.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from claude_code_api.cache import DistributedExecutor, QueueWorker, WorkQueue
from claude_code_api.config import Settings
from claude_code_api.domain import TaskRequest
from claude_code_api.errors import TaskCancelledError
from claude_code_api.workers import WorkerPool

from .conftest import alive, cli_pids, gone, make_queue

#: Enough words that the streamed answer takes ~30 s at 0.5 s per word: it cannot end by itself.
LONG_PROMPT = "[[sim:spawn_child]] " + "word " * 60


@pytest.fixture
def pidfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.pid"
    monkeypatch.setenv("CLAUDE_CODE_SIM_PIDFILE", str(path))  # passes the CLI env allow-list
    return path


@pytest.fixture
async def queue(queue_kind: str, redis_url: str, redis_prefix: str) -> AsyncIterator[WorkQueue]:
    made = make_queue(queue_kind, redis_url, redis_prefix, visibility_timeout=0.3)
    yield made
    await made.close()


@pytest.fixture
async def worker(queue: WorkQueue) -> AsyncIterator[QueueWorker]:
    """A queue worker with one slot, on its own pool, running until the test ends."""
    pool = WorkerPool(Settings(demo=True, max_workers=1, task_timeout=60))
    await pool.start()
    made = QueueWorker(queue, pool, heartbeat=0.1, cancel_poll=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(made.run(stop))
    yield made
    stop.set()
    await running
    await made.drain(1)
    await pool.close(grace=1)


async def settled(queue: WorkQueue, worker: QueueWorker) -> None:
    """Wait until the worker has acked everything (callers bound the wait)."""
    while await queue.length() or worker.completed == 0:
        await asyncio.sleep(0.05)


async def test_cancelled_run_kills_the_remote_cli(
    queue: WorkQueue, worker: QueueWorker, pidfile: Path
) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=60)
    run = asyncio.create_task(
        executor.run(TaskRequest(prompt="[[sim:spawn_child]] [[sim:delay=30]] hi", model="haiku"))
    )
    pids = await asyncio.wait_for(cli_pids(pidfile), 20)
    assert all(alive(pid) for pid in pids)
    run.cancel()  # what the API does when the HTTP client disconnects
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.wait_for(gone(pids), 10)  # the CLI and its child were killed
    await asyncio.wait_for(settled(queue, worker), 10)
    assert (worker.completed, worker.cancelled) == (1, 1)

    await asyncio.sleep(0.5)  # past the visibility timeout: an un-acked task would come back
    assert await queue.take("another-worker", block=0.2) is None

    # the worker's slot is free again: the next task runs normally
    after = await executor.run(TaskRequest(prompt="next one", model="haiku"))
    assert "You said: next one" in after.text


async def test_closed_stream_kills_the_remote_cli(
    queue: WorkQueue, worker: QueueWorker, pidfile: Path
) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=60)
    stream = executor.stream(
        TaskRequest(prompt="[[sim:chunk_delay=0.5]] " + LONG_PROMPT, model="haiku")
    )
    first = await asyncio.wait_for(anext(stream), 20)
    assert isinstance(first, str) and first
    pids = await cli_pids(pidfile)
    await stream.aclose()  # the client went away after the first delta
    await asyncio.wait_for(gone(pids), 10)
    await asyncio.wait_for(settled(queue, worker), 10)
    assert worker.cancelled == 1
    await asyncio.sleep(0.5)
    assert await queue.take("another-worker", block=0.2) is None


async def test_task_cancelled_before_it_starts_is_never_run(
    queue: WorkQueue, pidfile: Path
) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=60)
    task = TaskRequest(prompt="[[sim:spawn_child]] never", model="haiku")
    run = asyncio.create_task(executor.run(task))
    while not await queue.length():
        await asyncio.sleep(0.01)
    run.cancel()  # no worker yet: the task waits in the queue, marked cancelled
    with pytest.raises(asyncio.CancelledError):
        await run

    pool = WorkerPool(Settings(demo=True, max_workers=1))
    await pool.start()
    late = QueueWorker(queue, pool, heartbeat=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(late.run(stop))
    await asyncio.wait_for(settled(queue, late), 10)
    stop.set()
    await running
    await pool.close(grace=1)
    assert (late.completed, late.cancelled) == (1, 1)
    assert not pidfile.exists()  # skipped: no CLI ran


async def test_cancel_mark(queue: WorkQueue) -> None:
    task_id = await queue.put({"n": 1})
    assert not await queue.is_cancelled(task_id)
    await queue.cancel(task_id)
    assert await queue.is_cancelled(task_id)
    assert not await queue.is_cancelled("some-other-task")
    await queue.discard(task_id)
    assert not await queue.is_cancelled(task_id)


async def test_owner_hears_a_cancelled_event(queue: WorkQueue) -> None:
    executor = DistributedExecutor(queue, None, start_timeout=20, idle_timeout=20)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="p", model="haiku")))
    delivery = None
    while delivery is None:
        delivery = await queue.take("w1", block=0.5)
    await queue.publish(delivery.task_id, {"type": "cancelled"})  # cancelled by someone else
    with pytest.raises(TaskCancelledError):
        await run
