"""``claude-code-api worker`` processes on the real Redis, running the simulated CLI.

Executions are counted from the workers' own logs ("running task <id> (attempt n)"), written
just before a worker hands the task to its CLI pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_code_api.cache import DistributedExecutor, RedisWorkQueue
from claude_code_api.cache.guard import make_client
from claude_code_api.config import Settings
from claude_code_api.domain import TaskRequest, ToolResult, ToolSpec
from claude_code_api.remote.tool_routes import ToolRunDirectory
from claude_code_api.remote.worker import serve_worker

from .conftest import cli_pids, gone

CLI = str(Path(sys.executable).parent / "claude-code-api")
RUNNING = re.compile(r"worker (\S+): running task (\w+) \(attempt (\d+)\)")


class WorkerProcess:
    """One ``claude-code-api worker`` subprocess with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 1) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(
            [CLI, "worker", "--concurrency", str(concurrency)],
            env=env,
            cwd=log.parent,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        """Block until the worker logs that it consumes the queue (its Python start-up can take
        seconds on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while b"consuming" not in self.log.read_bytes():
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.05)

    def runs(self) -> list[tuple[str, str, int]]:
        """(worker name, task id, attempt) of every task this process started."""
        text = self.log.read_text(errors="replace")
        return [(m[1], m[2], int(m[3])) for m in RUNNING.finditer(text)]

    def stop(self, sig: int | None = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` (None: none, it was sent already) and wait for the exit code."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.handle.close()
        return code

    def kill_group(self) -> None:
        """SIGKILL the worker and the CLI processes it started (they share no group)."""
        for pid in [*_children(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in pairs if ppid == parent]
        found += kids
        frontier += kids
    return found


@pytest.fixture
def worker_env(redis_url: str, redis_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")}
    env.update(
        CCAPI_REDIS_URL=redis_url,
        CCAPI_REDIS_PREFIX=redis_prefix,
        CCAPI_DEMO="true",
        CCAPI_VISIBILITY_TIMEOUT="1",
        CCAPI_SHUTDOWN_GRACE="10",
        CCAPI_LOG_LEVEL="INFO",
    )
    return env


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill_group()
        worker.proc.wait(timeout=10)
        worker.handle.close()


@pytest.fixture
async def executor(redis_url: str, redis_prefix: str) -> AsyncIterator[DistributedExecutor]:
    queue = RedisWorkQueue(
        make_client(redis_url, socket_timeout=5), redis_prefix, visibility_timeout=1
    )
    made = DistributedExecutor(queue, None, start_timeout=60, idle_timeout=30)
    yield made
    await made.close()


async def test_worker_killed_mid_task_is_redelivered(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    executor: DistributedExecutor,
    tmp_path: Path,
) -> None:
    # the first worker's CLI answers after 60 s: it will be killed long before
    doomed = WorkerProcess({**worker_env, "CLAUDE_CODE_SIM_DELAY": "60"}, tmp_path / "a.log")
    workers.append(doomed)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="survive me", model="haiku")))
    while not doomed.runs():
        assert not run.done()
        await asyncio.sleep(0.1)
    doomed.kill_group()  # SIGKILL mid-task: no ack, no goodbye
    assert doomed.proc.wait(timeout=10) == -signal.SIGKILL

    rescuer = WorkerProcess(worker_env, tmp_path / "b.log")
    workers.append(rescuer)
    result = await run
    assert "You said: survive me" in result.text
    [(_, first_id, first_attempt)] = doomed.runs()
    [(_, second_id, second_attempt)] = rescuer.runs()
    assert first_id == second_id
    assert (first_attempt, second_attempt) == (1, 2)
    assert rescuer.stop() == 0


async def test_two_workers_drain_one_queue_without_doing_a_task_twice(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    executor: DistributedExecutor,
    tmp_path: Path,
) -> None:
    env = {**worker_env, "CLAUDE_CODE_SIM_DELAY": "0.2"}
    workers += [WorkerProcess(env, tmp_path / f"w{n}.log", concurrency=2) for n in range(2)]
    for worker in workers:  # else the first one up may take every task
        await asyncio.to_thread(worker.wait_ready)
    prompts = [f"task number {n}" for n in range(12)]
    results = await asyncio.gather(
        *(executor.run(TaskRequest(prompt=p, model="haiku")) for p in prompts)
    )
    for prompt, result in zip(prompts, results, strict=True):
        assert f"You said: {prompt}" in result.text

    runs = [run for worker in workers for run in worker.runs()]
    per_task = Counter(task_id for _, task_id, _ in runs)
    assert len(per_task) == len(prompts)
    assert set(per_task.values()) == {1}  # no task ran twice
    assert len({name for name, _, _ in runs}) == 2  # both workers took work
    # A worker acks a task just after publishing its result: wait for the last ack.
    deadline = time.monotonic() + 10
    while await executor.queue.length() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await executor.queue.length() == 0
    assert [worker.stop() for worker in workers] == [0, 0]  # SIGTERM: clean exit


async def test_sigterm_finishes_the_running_task_first(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    executor: DistributedExecutor,
    tmp_path: Path,
) -> None:
    worker = WorkerProcess({**worker_env, "CLAUDE_CODE_SIM_DELAY": "1"}, tmp_path / "w.log")
    workers.append(worker)
    run = asyncio.create_task(executor.run(TaskRequest(prompt="finish me", model="haiku")))
    while not worker.runs():
        await asyncio.sleep(0.05)
    worker.proc.send_signal(signal.SIGTERM)
    assert "finish me" in (await run).text  # drained within the grace period
    assert await asyncio.to_thread(worker.stop, None) == 0


def test_worker_command_needs_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")}
    done = subprocess.run(
        [CLI, "worker"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "CCAPI_REDIS_URL" in done.stderr


async def test_serve_worker_in_process(redis_url: str, redis_prefix: str) -> None:
    settings = Settings(
        redis_url=redis_url, redis_prefix=redis_prefix, demo=True, visibility_timeout=1
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_worker(settings, concurrency=1, stop=stop))
    executor = await DistributedExecutor.create(settings)
    result = await executor.run(TaskRequest(prompt="in process", model="haiku"))
    assert "in process" in result.text
    stop.set()
    await serving
    await executor.close()


async def test_cancelled_run_kills_the_cli_of_a_worker_process(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    executor: DistributedExecutor,
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "cli.pid"
    worker = WorkerProcess({**worker_env, "CLAUDE_CODE_SIM_PIDFILE": str(pidfile)}, tmp_path / "w")
    workers.append(worker)
    slow = TaskRequest(prompt="[[sim:spawn_child]] [[sim:delay=30]] cancel me", model="haiku")
    run = asyncio.create_task(executor.run(slow))
    pids = await asyncio.wait_for(cli_pids(pidfile), 30)  # the worker's CLI has started
    [(_, task_id, _)] = worker.runs()
    run.cancel()  # the API's request task, cancelled when its client disconnects
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.wait_for(gone(pids), 10)
    await asyncio.wait_for(_acked(executor), 10)
    events = await executor.queue.read_events(task_id, "0", block=0)
    assert [event["type"] for _, event in events] == ["started", "cancelled"]

    # not re-delivered: past the visibility timeout the worker runs the next task, only that
    await asyncio.sleep(1.5)
    after = await executor.run(TaskRequest(prompt="next one", model="haiku"))
    assert "You said: next one" in after.text
    assert [(tid == task_id, attempt) for _, tid, attempt in worker.runs()] == [
        (True, 1),
        (False, 1),
    ]
    assert worker.stop() == 0


async def test_closed_stream_kills_the_cli_of_a_worker_process(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    executor: DistributedExecutor,
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "cli.pid"
    env = {**worker_env, "CLAUDE_CODE_SIM_PIDFILE": str(pidfile)}
    workers += [WorkerProcess(env, tmp_path / f"w{n}.log") for n in range(2)]
    prompt = "[[sim:spawn_child]] [[sim:chunk_delay=0.5]] " + "word " * 60  # ~30 s of deltas
    stream = executor.stream(TaskRequest(prompt=prompt, model="haiku"))
    first = await asyncio.wait_for(anext(stream), 30)
    assert isinstance(first, str) and first
    pids = await cli_pids(pidfile)
    await stream.aclose()  # the client went away after the first delta
    await asyncio.wait_for(gone(pids), 10)
    await asyncio.wait_for(_acked(executor), 10)

    # the other worker (idle, polling the queue) never gets the task re-delivered
    await asyncio.sleep(1.5)  # past the visibility timeout (1 s): an un-acked task would be back
    assert len([run for worker in workers for run in worker.runs()]) == 1
    assert [worker.stop() for worker in workers] == [0, 0]


async def _acked(executor: DistributedExecutor) -> None:
    while await executor.queue.length():
        await asyncio.sleep(0.05)


async def test_tool_results_resume_the_local_suspended_run_even_when_the_pool_is_full(
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    # A queue worker is alive, so a full local pool would send overflow to the queue; the
    # follow-up carrying tool results must still run here, where its run waits.
    from claude_code_api.domain import ToolResult, ToolSpec
    from claude_code_api.workers import WorkerPool

    worker = WorkerProcess(worker_env, tmp_path / "w.log")
    workers.append(worker)
    await asyncio.to_thread(worker.wait_ready)
    (tmp_path / "work").mkdir()
    settings = Settings(
        demo=True, max_workers=1, task_timeout=20, workdir_root=tmp_path / "work",
        warm_workers=False,
    )  # fmt: skip
    queue = RedisWorkQueue(make_client(redis_url, socket_timeout=5), redis_prefix)
    weather = ToolSpec(name="get_weather", input_schema={"type": "object"})
    async with WorkerPool(settings) as pool:
        executor = DistributedExecutor(queue, pool, start_timeout=30, idle_timeout=30)
        first = await executor.run(
            TaskRequest(prompt="[[call:get_weather]]", model="haiku", tools=[weather])
        )
        assert first.suspended and pool.stats().suspended == 1
        busy = asyncio.create_task(
            executor.run(TaskRequest(prompt="[[sim:delay=2]] slow", model="haiku"))
        )
        while pool.stats().busy == 0:
            await asyncio.sleep(0.02)
        follow_up = TaskRequest(
            prompt="rebuilt conversation", model="haiku", tools=[weather],
            tool_results=[ToolResult(first.tool_calls[0].id, "sunny")],
        )  # fmt: skip
        final = await executor.run(follow_up)
        await busy
        await executor.close()
    assert final.text == "Tool results: sunny"  # resumed, not started afresh
    assert worker.runs() == []  # the queue worker never got it
    assert worker.stop() == 0


CLOCK = ToolSpec(name="get_time", description="Current time.", input_schema={"type": "object"})


def tool_task(prompt: str, **overrides: object) -> TaskRequest:
    values: dict[str, object] = {"prompt": prompt, "project_id": "p1", "tools": [CLOCK]}
    values.update(overrides)
    return TaskRequest(**values)  # type: ignore[arg-type]


@pytest.fixture
async def replicas(redis_url: str, redis_prefix: str) -> AsyncIterator[list[DistributedExecutor]]:
    """Two replicas' executors (no local pool: every task goes to a queue worker) that find
    the holders of suspended runs, as ``DistributedExecutor.create`` builds them."""
    made = []
    for _ in range(2):
        queue = RedisWorkQueue(
            make_client(redis_url, socket_timeout=5), redis_prefix, visibility_timeout=1
        )
        directory = ToolRunDirectory(queue, ttl=60)
        made.append(DistributedExecutor(queue, None, start_timeout=60, directory=directory))
    yield made
    for executor in made:
        await executor.close()


async def test_a_tool_follow_up_resumes_the_run_parked_on_a_queue_worker(
    sim_calls: Callable[[], list[dict[str, Any]]],
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    replicas: list[DistributedExecutor],
    tmp_path: Path,
) -> None:
    holder = WorkerProcess(worker_env, tmp_path / "holder.log")
    workers.append(holder)
    first_replica, second_replica = replicas
    first = await first_replica.run(tool_task("[[call:get_time]]"))
    assert first.suspended
    # The holder's only slot is busy, another worker is idle: the shared queue would hand
    # the follow-up to that one (a rebuild), its directed queue brings it to the holder.
    slow = asyncio.create_task(first_replica.run(TaskRequest(prompt="[[sim:delay=2]] slow")))
    while len(holder.runs()) < 2:
        await asyncio.sleep(0.05)
    other_worker = WorkerProcess(worker_env, tmp_path / "other.log")
    workers.append(other_worker)
    await asyncio.to_thread(other_worker.wait_ready)
    call_id = first.tool_calls[0].id
    # Another project's follow-up naming the same call never reaches the run.
    stolen = ToolResult(call_id, "stolen")
    other = await second_replica.run(tool_task("rebuilt", project_id="p2", tool_results=[stolen]))
    assert "stolen" not in other.text and not other.tool_calls
    final = await second_replica.run(tool_task("x", tool_results=[ToolResult(call_id, "9 am")]))
    assert final.stop_reason == "stop" and final.text == "Tool results: 9 am"
    assert "slow" in (await slow).text
    assert len(holder.runs()) == 3  # the first turn, the slow task, the resumed follow-up
    assert len(other_worker.runs()) == 1  # p2's follow-up, rebuilt
    assert len(sim_calls()) == 3  # no new CLI process for the follow-up


async def test_a_tool_follow_up_is_rebuilt_when_the_worker_holding_its_run_is_gone(
    sim_calls: Callable[[], list[dict[str, Any]]],
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    replicas: list[DistributedExecutor],
    tmp_path: Path,
) -> None:
    holder = WorkerProcess(worker_env, tmp_path / "holder.log")
    workers.append(holder)
    replica = replicas[0]
    first = await replica.run(tool_task("what time? [[call:get_time]]"))
    assert first.suspended
    holder.kill_group()  # SIGKILL: the parked CLI dies with it, its holder record stays
    assert holder.proc.wait(timeout=10) == -signal.SIGKILL
    rescuer = WorkerProcess(worker_env, tmp_path / "rescuer.log")
    workers.append(rescuer)
    rebuilt = "user: what time? [[call:get_time]]\n<tool_results>\n9\n</tool_results>"
    result = ToolResult(first.tool_calls[0].id, "9")
    final = await replica.run(tool_task(rebuilt, tool_results=[result]))
    assert final.stop_reason == "stop" and not final.tool_calls
    assert len(rescuer.runs()) == 1 and len(sim_calls()) == 2  # rebuilt in a new process


async def test_sigterm_lets_the_worker_finish_a_follow_up_it_resumed(
    sim_calls: Callable[[], list[dict[str, Any]]],
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    replicas: list[DistributedExecutor],
    tmp_path: Path,
) -> None:
    # Its CLI answers one word a second: SIGTERM lands while the resumed turn runs.
    env = {**worker_env, "CLAUDE_CODE_SIM_CHUNK_DELAY": "1"}
    holder = WorkerProcess(env, tmp_path / "holder.log")
    workers.append(holder)
    first = await replicas[0].run(tool_task("[[call:get_time]]"))
    results = [ToolResult(first.tool_calls[0].id, "9 am")]
    follow_up = asyncio.create_task(replicas[1].run(tool_task("x", tool_results=results)))
    while len(holder.runs()) < 2:
        assert not follow_up.done()
        await asyncio.sleep(0.05)
    holder.proc.send_signal(signal.SIGTERM)
    final = await follow_up  # drained within the grace period, not taken back and rebuilt
    assert final.text == "Tool results: 9 am" and len(sim_calls()) == 1
    assert await asyncio.to_thread(holder.stop, None) == 0
