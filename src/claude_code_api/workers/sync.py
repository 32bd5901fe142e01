"""SyncWorkerPool: the seed's synchronous API over :class:`WorkerPool`.

The async pool runs on a private event loop in a daemon thread; each method hands a coroutine
to that loop and blocks on its result. Use it from scripts and sync code, never from inside a
running event loop (it would block it).

    with SyncWorkerPool(settings) as pool:
        task_id = pool.submit("Explain async/await", model="haiku", project_id="demo")
        print(pool.get_result(task_id).text)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterator
from typing import Any, TypeVar

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest
from claude_code_api.workers.pool import PoolStats, WorkerPool
from claude_code_api.workers.runner import Runner

T = TypeVar("T")


class SyncWorkerPool:
    """Blocking wrapper; starts its pool on construction, stops it on :meth:`close`."""

    def __init__(self, settings: Settings, *, runner: Runner | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ccapi-sync-pool", daemon=True
        )
        self._thread.start()
        self.pool = WorkerPool(settings, runner=runner)
        self._call(self.pool.start())

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def submit(
        self,
        task: TaskRequest | str,
        model: str | None = None,
        project_id: str | None = None,
        **options: object,
    ) -> str:
        """Queue a task; returns its id (:class:`~claude_code_api.errors.BusyError` if full)."""
        return self._call(self.pool.submit(task, model, project_id, **options))

    def get_result(self, task_id: str, timeout: float = 30) -> CompletionResult:
        """Block until the task's result (or error) is ready, up to ``timeout`` seconds."""
        return self._call(self.pool.get_result(task_id, timeout))

    def run(self, task: TaskRequest) -> CompletionResult:
        """Submit and wait."""
        return self._call(self.pool.run(task))

    def kill(self, task_id: str) -> bool:
        """Kill a running or queued task."""
        return self._call(self.pool.kill(task_id))

    def stream(self, task: TaskRequest) -> Iterator[str | CompletionResult]:
        """Deltas then the result, as a blocking iterator; leaving early kills the worker."""
        agen = self.pool.stream(task)
        try:
            while True:
                try:
                    yield self._call(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            self._call(agen.aclose())

    def stats(self) -> PoolStats:
        """Busy / idle / queued right now."""
        return self.pool.stats()

    def live_pids(self) -> dict[str, int]:
        """``{task_id: pid}`` of live CLI processes."""
        return self.pool.live_pids()

    def close(self, grace: float = 30.0) -> None:
        """Finish in-flight work (up to ``grace``), kill the rest, stop the loop thread."""
        if not self._loop.is_running():
            return
        self._call(self.pool.close(grace))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> SyncWorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(grace=0)


async def _next(agen: AsyncGenerator[T, None]) -> T:
    return await agen.__anext__()
