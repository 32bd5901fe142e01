"""WorkerPool: at most ``max_workers`` CLI processes, a bounded FIFO queue, results by task id.

    pool = WorkerPool(settings)
    await pool.start()
    task_id = await pool.submit(TaskRequest(prompt="Explain async/await", model="haiku"))
    result = await pool.get_result(task_id)          # CompletionResult, or the task's error
    async for item in pool.stream(TaskRequest(...)): # str deltas, then one CompletionResult
        ...
    await pool.close(grace=30)

Design: ``max_workers`` long-lived worker coroutines take jobs from one FIFO queue; each job
runs the :class:`~claude_code_api.workers.runner.CLIRunner` in its own asyncio task so
``kill()`` can cancel it (the runner then kills the CLI's process group). A monitor task
expires old results and fails jobs whose CLI died without the runner noticing (e.g. a
grandchild kept stdout open) or that overran their deadline: it kills the group and fails the
task with :class:`~claude_code_api.errors.WorkerLostError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest
from claude_code_api.errors import (
    BusyError,
    CCAPIError,
    NotFoundError,
    TaskCancelledError,
    TaskTimeoutError,
    WorkerLostError,
)
from claude_code_api.workers import orphans
from claude_code_api.workers.runner import CLIRunner, Runner, kill_group
from claude_code_api.workers.suspended import SuspendedRuns
from claude_code_api.workers.warm import WarmRunner

log = logging.getLogger(__name__)

LOST_GRACE = 2.0  # seconds a dead CLI may keep its runner waiting before the task is failed
DEADLINE_SLACK = 5.0  # seconds past its deadline before a job counts as stuck


@runtime_checkable
class Executor(Protocol):
    """What the HTTP layer calls: the local pool, or the distributed (Redis) executor."""

    async def run(self, task: TaskRequest) -> CompletionResult:
        """Run a task and return its result (raising its error)."""
        ...

    def stream(self, task: TaskRequest) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then exactly one :class:`CompletionResult`."""
        ...


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of the pool's load."""

    busy: int
    idle: int
    queued: int
    max_workers: int
    suspended: int = 0  # runs parked on client tool calls (no worker slot held)


class JobState(enum.StrEnum):
    """Lifecycle of one task."""

    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # a CLI process is (being) started
    DONE = "done"  # result or error set


_END = object()  # end-of-stream marker on a job's delta queue


@dataclass(eq=False, slots=True)
class _Job:
    id: str
    task: TaskRequest
    future: asyncio.Future[CompletionResult]
    deltas: asyncio.Queue[object] | None = None
    state: JobState = JobState.QUEUED
    proc: asyncio.subprocess.Process | None = None
    runner_task: asyncio.Task[None] | None = None
    deadline: float = 0.0
    exited_at: float | None = None
    finished_at: float = 0.0
    timeout: float = field(default=0.0)


class WorkerPool:
    """Async pool of Claude CLI processes. Satisfies :class:`Executor`."""

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner | None = None,
        monitor_interval: float = 0.5,
        lost_grace: float = LOST_GRACE,
    ) -> None:
        self.settings = settings
        self.runner: Runner = runner or _default_runner(settings)
        self.max_workers = settings.max_workers
        self.queue_max = settings.queue_max
        self.monitor_interval = monitor_interval
        self.lost_grace = lost_grace
        self._jobs: dict[str, _Job] = {}
        self._queue: asyncio.Queue[_Job] | None = None
        self._waiting = 0
        self._running: set[_Job] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._monitor: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker coroutines and the health monitor (idempotent)."""
        if self._queue is not None:
            return
        # What a worker that died (SIGKILL, OOM) left: its CLIs' children and task directories.
        await asyncio.to_thread(orphans.sweep_stale, self.settings.workdir_root)
        self._queue = asyncio.Queue()
        self._workers = [
            asyncio.create_task(self._worker(), name=f"ccapi-worker-{i}")
            for i in range(self.max_workers)
        ]
        self._monitor = asyncio.create_task(self._watch(), name="ccapi-pool-monitor")

    async def close(self, grace: float = 30.0) -> None:
        """Stop accepting tasks, let in-flight and queued ones finish for ``grace`` seconds,
        then kill what is left (failing it with :class:`TaskCancelledError`)."""
        self._closing = True
        pending = [j.future for j in self._jobs.values() if not j.future.done()]
        if pending and grace > 0:
            await asyncio.wait(pending, timeout=grace)
        for job in list(self._jobs.values()):
            if not job.future.done():
                self._fail(job, TaskCancelledError("The service is shutting down."))
        for task in [*self._workers, *([self._monitor] if self._monitor else [])]:
            task.cancel()
        for task in [*self._workers, *([self._monitor] if self._monitor else [])]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = [j.runner_task for j in self._running if j.runner_task is not None]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        self._workers, self._monitor, self._queue = [], None, None
        closer = getattr(self.runner, "aclose", None)  # e.g. WarmRunner's idle processes
        if closer is not None:
            await closer()

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(grace=0)

    # --- submitting -------------------------------------------------------------------------
    async def submit(
        self,
        task: TaskRequest | str,
        model: str | None = None,
        project_id: str | None = None,
        **options: object,
    ) -> str:
        """Queue a task; returns its id at once.

        Accepts a :class:`TaskRequest` or the seed form ``submit(prompt, model, project_id)``.

        Raises:
            BusyError: every worker is busy and the queue is full (or the pool is closing).
        """
        return self._enqueue(_as_task(task, model, project_id, options)).id

    async def get_result(self, task_id: str, timeout: float = 30) -> CompletionResult:
        """Wait up to ``timeout`` seconds for a task's result; raises the task's error.

        Raises:
            NotFoundError: unknown or expired task id.
            TaskTimeoutError: the task is still running after ``timeout`` (it keeps running).
        """
        job = self._jobs.get(task_id)
        if job is None:
            raise NotFoundError(f"No task {task_id!r} (unknown or expired).")
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except TimeoutError:
            raise TaskTimeoutError(
                f"Task {task_id} has not finished after {timeout:g}s; it is still running."
            ) from None

    async def run(self, task: TaskRequest) -> CompletionResult:
        """Submit and wait. If the caller is cancelled (client gone) the task is killed."""
        job = self._enqueue(task)
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            self._kill(job, "The client went away.")
            raise

    async def stream(self, task: TaskRequest) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas as they arrive, then exactly one :class:`CompletionResult`.

        Closing the iterator early (``aclose()``, cancellation) kills the worker.
        """
        job = self._enqueue(task, streaming=True)
        assert job.deltas is not None
        try:
            while (item := await job.deltas.get()) is not _END:
                assert isinstance(item, str)
                yield item
            yield await job.future
        finally:
            if not job.future.done():
                self._kill(job, "The stream's consumer went away.")
            if job.runner_task is not None and not job.runner_task.done():
                # Wait for the CLI to be killed and reaped before the consumer moves on.
                with contextlib.suppress(BaseException):
                    await asyncio.wait([job.runner_task])

    async def kill(self, task_id: str) -> bool:
        """Kill a running or queued task (its result becomes :class:`TaskCancelledError`).

        Returns False when the task is unknown or already finished.
        """
        job = self._jobs.get(task_id)
        if job is None or job.future.done():
            return False
        self._kill(job, f"Task {task_id} was killed.")
        if job.runner_task is not None:
            with contextlib.suppress(BaseException):
                await job.runner_task
        return True

    # --- introspection ----------------------------------------------------------------------
    def stats(self) -> PoolStats:
        """Busy / idle workers and queued tasks right now."""
        busy = len(self._running)
        return PoolStats(
            busy=busy,
            idle=max(0, self.max_workers - busy),
            queued=self._waiting,
            max_workers=self.max_workers,
            suspended=len(suspended_runs(self.runner) or ()),
        )

    def holds_run_for(self, task: TaskRequest) -> bool:
        """Whether a run suspended here waits for the tool results ``task`` brings (so the
        task must run here to resume it rather than start afresh elsewhere)."""
        runs = suspended_runs(self.runner)
        ids = [r.tool_call_id for r in task.tool_results]
        return bool(ids) and runs is not None and runs.holds(task.project_id, ids)

    def live_pids(self) -> dict[str, int]:
        """``{task_id: pid}`` of every CLI process currently alive."""
        return {
            j.id: j.proc.pid
            for j in self._running
            if j.proc is not None and j.proc.returncode is None
        }

    def status(self, task_id: str) -> JobState | None:
        """A task's state, or None when unknown or expired."""
        job = self._jobs.get(task_id)
        return job.state if job is not None else None

    # --- internals --------------------------------------------------------------------------
    def _enqueue(self, task: TaskRequest, *, streaming: bool = False) -> _Job:
        if self._closing:
            raise BusyError("The service is shutting down.", retry_after=5.0)
        if self._queue is None:
            raise RuntimeError("WorkerPool.start() has not been awaited")
        idle = self.max_workers - len(self._running) - self._waiting
        if idle <= 0 and self._waiting >= self.queue_max:
            raise BusyError(retry_after=1.0)
        future: asyncio.Future[CompletionResult] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume_exception)
        job = _Job(
            id=f"task_{uuid.uuid4().hex}",
            task=task,
            future=future,
            deltas=asyncio.Queue() if streaming else None,
            timeout=task.timeout or self.settings.task_timeout,
        )
        self._jobs[job.id] = job
        self._waiting += 1
        self._queue.put_nowait(job)
        return job

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            if job.state is not JobState.QUEUED:  # killed while queued
                continue
            self._waiting -= 1
            job.state = JobState.RUNNING
            job.deadline = time.monotonic() + job.timeout
            self._running.add(job)
            job.runner_task = asyncio.create_task(self._execute(job))
            try:
                # wait() neither raises the job's outcome nor cancels it when we are cancelled.
                await asyncio.wait([job.runner_task])
            except asyncio.CancelledError:  # pool closing: the job itself was failed already
                job.runner_task.cancel()
                with contextlib.suppress(BaseException):
                    await job.runner_task
                raise
            finally:
                self._running.discard(job)

    async def _execute(self, job: _Job) -> None:
        def spawned(proc: asyncio.subprocess.Process) -> None:
            job.proc = proc

        # The outcome is published only after the runner has killed/reaped the CLI and removed
        # its working directory, so a caller holding a result sees a free, clean worker.
        outcome: CompletionResult | BaseException | None = None
        try:
            async with contextlib.aclosing(
                self.runner.stream(job.task, timeout=job.timeout, on_spawn=spawned)
            ) as items:
                async for item in items:
                    if isinstance(item, CompletionResult):
                        outcome = item
                    elif job.deltas is not None:
                        job.deltas.put_nowait(item)
        except asyncio.CancelledError:
            self._running.discard(job)
            self._fail(job, TaskCancelledError(f"Task {job.id} was cancelled."))
            raise
        except CCAPIError as exc:
            outcome = exc
        except Exception as exc:  # a bug must still fail the task, never lose it
            log.exception("worker crashed running %s", job.id)
            outcome = WorkerLostError(f"The worker crashed: {type(exc).__name__}")
        self._running.discard(job)
        if isinstance(outcome, CompletionResult):
            self._succeed(job, outcome)
        else:
            self._fail(job, outcome or WorkerLostError("The runner ended without a result."))

    def _finish(self, job: _Job) -> None:
        job.state = JobState.DONE
        job.finished_at = time.monotonic()
        if job.deltas is not None:
            job.deltas.put_nowait(_END)

    def _succeed(self, job: _Job, result: CompletionResult) -> None:
        if not job.future.done():
            job.future.set_result(result)
            self._finish(job)

    def _fail(self, job: _Job, error: BaseException) -> None:
        if job.future.done():
            return
        if job.state is JobState.QUEUED:
            self._waiting -= 1
        job.future.set_exception(error)
        self._finish(job)

    def _kill(self, job: _Job, reason: str) -> None:
        self._fail(job, TaskCancelledError(reason))
        if job.runner_task is not None and not job.runner_task.done():
            job.runner_task.cancel()  # the runner's cleanup kills the process group

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.monitor_interval)
            try:
                self._check(time.monotonic())
            except Exception:  # the monitor must survive anything
                log.exception("pool monitor check failed")

    def _check(self, now: float) -> None:
        for job in list(self._running):
            proc = job.proc
            if proc is not None and proc.returncode is not None and job.exited_at is None:
                job.exited_at = now
            lost = job.exited_at is not None and now - job.exited_at > self.lost_grace
            stuck = now > job.deadline + DEADLINE_SLACK
            if (lost or stuck) and not job.future.done():
                why = "exited without finishing its output" if lost else "stopped responding"
                log.warning("worker for %s %s; reaping it", job.id, why)
                if proc is not None:
                    kill_group(proc.pid)
                self._fail(job, WorkerLostError(f"The CLI worker {why} and was reaped."))
                if job.runner_task is not None:
                    job.runner_task.cancel()
        ttl = self.settings.result_ttl
        for job_id, job in list(self._jobs.items()):
            if job.state is JobState.DONE and now - job.finished_at > ttl:
                del self._jobs[job_id]


def suspended_runs(runner: Runner) -> SuspendedRuns | None:
    """The runner's parked tool runs (a :class:`WarmRunner` parks them in its cold runner)."""
    found = getattr(runner, "suspended", None)
    if found is None:
        found = getattr(getattr(runner, "cold", None), "suspended", None)
    return found if isinstance(found, SuspendedRuns) else None


def _default_runner(settings: Settings) -> Runner:
    if settings.warm_workers:
        return WarmRunner(settings)
    return CLIRunner(settings)


def _consume_exception(future: asyncio.Future[CompletionResult]) -> None:
    # Results nobody asks for must not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()


def _as_task(
    task: TaskRequest | str, model: str | None, project_id: str | None, options: dict[str, object]
) -> TaskRequest:
    if isinstance(task, TaskRequest):
        return task
    values: dict[str, object] = {"prompt": task, **options}
    if model is not None:
        values["model"] = model
    if project_id is not None:
        values["project_id"] = project_id
    return TaskRequest(**values)  # type: ignore[arg-type]
