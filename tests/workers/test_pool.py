"""WorkerPool behaviour on the simulated CLI: the seed's API, limits, kills, cleanup."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest
from claude_code_api.errors import (
    BusyError,
    CCAPIError,
    CLIExitError,
    NotFoundError,
    TaskCancelledError,
    TaskTimeoutError,
    UpstreamOverloadedError,
    WorkerLostError,
)
from claude_code_api.workers import Executor, JobState, SyncWorkerPool, WorkerPool
from tests.workers.conftest import alive, children, make_settings, workdirs


async def wait_running(pool: WorkerPool, task_id: str) -> int:
    """Wait until the task's CLI process exists; returns its pid."""
    for _ in range(500):
        pid = pool.live_pids().get(task_id)
        if pid is not None:
            return pid
        await asyncio.sleep(0.01)
    raise AssertionError(f"{task_id} never started")


async def test_submit_task(pool: WorkerPool) -> None:
    task_id = await pool.submit("Explain async/await", model="haiku", project_id="proj-a")
    assert task_id.startswith("task_")
    # submit() enqueues without yielding to the event loop: no worker has taken it yet.
    assert pool.status(task_id) is JobState.QUEUED
    other = await pool.submit(TaskRequest(prompt="second"))
    assert other != task_id


async def test_get_result(pool: WorkerPool) -> None:
    task_id = await pool.submit("Explain async/await", model="haiku", project_id="proj-a")
    result = await pool.get_result(task_id, timeout=30)
    assert "You said: Explain async/await" in result.text
    assert result.model == "claude-haiku-4-5"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.usage.cost_usd > 0
    assert pool.status(task_id) is JobState.DONE
    assert (await pool.get_result(task_id)).text == result.text  # results can be read again
    with pytest.raises(NotFoundError):
        await pool.get_result("task_nope")


async def test_get_result_raises_the_tasks_error(pool: WorkerPool) -> None:
    task_id = await pool.submit("[[sim:error=overloaded]]")
    with pytest.raises(UpstreamOverloadedError):
        await pool.get_result(task_id)
    task_id = await pool.submit("[[sim:exit=2]]")
    with pytest.raises(CLIExitError):
        await pool.get_result(task_id)


async def test_get_result_wait_timeout_leaves_task_running(pool: WorkerPool) -> None:
    task_id = await pool.submit("[[sim:delay=1]] slow")
    with pytest.raises(TaskTimeoutError, match="still running"):
        await pool.get_result(task_id, timeout=0.05)
    assert "You said" in (await pool.get_result(task_id, timeout=30)).text


async def test_timeout_handling(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("CLAUDE_CODE_SIM_PIDFILE", str(pidfile))
    async with WorkerPool(settings) as pool:
        task_id = await pool.submit(
            TaskRequest(prompt="[[sim:spawn_child]] [[sim:hang]]", timeout=1.0)
        )
        with pytest.raises(TaskTimeoutError):
            await pool.get_result(task_id)
        leader, child = map(int, pidfile.read_text().split())
        assert not alive(leader) and not alive(child)  # the whole group died
        assert pool.live_pids() == {}


async def test_worker_cleanup(pool: WorkerPool, settings: Settings) -> None:
    ids = [await pool.submit(f"task {i}") for i in range(5)]
    for task_id in ids:
        await pool.get_result(task_id)
    assert pool.live_pids() == {}
    assert pool.stats().busy == 0 and pool.stats().queued == 0
    assert workdirs(settings) == []
    assert [c for c in children() if c[1] != "Z"] == [] and children() == []


async def test_results_expire(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, result_ttl=0.2)
    pool = WorkerPool(settings, monitor_interval=0.05)
    async with pool:
        task_id = await pool.submit("expire me")
        await pool.get_result(task_id)
        for _ in range(100):
            if pool.status(task_id) is None:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(NotFoundError):
            await pool.get_result(task_id)


async def test_concurrent_workers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=3, queue_max=20)
    async with WorkerPool(settings) as pool:
        ids = [await pool.submit(f"[[sim:delay=0.5]] job {i}") for i in range(6)]
        peak = 0
        while not all(pool.status(i) is JobState.DONE for i in ids):
            stats = pool.stats()
            assert stats.busy <= 3 and stats.busy + stats.idle == 3
            peak = max(peak, len(pool.live_pids()))
            await asyncio.sleep(0.02)
        results = [await pool.get_result(i) for i in ids]
        assert peak == 3  # ran in parallel, never more than max_workers
        assert [r.text.split("You said: ")[1].split(" .")[0] for r in results] == [
            f"[[sim:delay=0.5]] job {i}" for i in range(6)
        ]


async def test_queue_full_raises_busy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=1, queue_max=2)
    async with WorkerPool(settings) as pool:
        running = await pool.submit("[[sim:hang]]")
        await wait_running(pool, running)
        queued = [await pool.submit("q1"), await pool.submit("q2")]
        assert pool.stats().queued == 2
        with pytest.raises(BusyError):
            await pool.submit("one too many")
        assert await pool.kill(running)
        for q in queued:
            assert "You said" in (await pool.get_result(q)).text


async def test_queue_max_zero_refuses_when_all_busy(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path, max_workers=1, queue_max=0)) as pool:
        await pool.submit("[[sim:delay=5]]")
        with pytest.raises(BusyError):
            await pool.submit("no room")


async def test_kill_running_task(pool: WorkerPool) -> None:
    task_id = await pool.submit("[[sim:hang]]")
    pid = await wait_running(pool, task_id)
    assert await pool.kill(task_id) is True
    with pytest.raises(TaskCancelledError):
        await pool.get_result(task_id)
    assert not alive(pid)
    assert await pool.kill(task_id) is False  # already finished
    assert await pool.kill("task_unknown") is False


async def test_kill_queued_task(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path, max_workers=1)) as pool:
        blocker = await pool.submit("[[sim:delay=0.5]] first")
        await wait_running(pool, blocker)
        queued = await pool.submit("never runs")
        assert pool.status(queued) is JobState.QUEUED
        assert await pool.kill(queued) is True
        assert pool.stats().queued == 0
        with pytest.raises(TaskCancelledError):
            await pool.get_result(queued)
        assert "first" in (await pool.get_result(blocker)).text
        after = await pool.submit("after")
        assert "after" in (await pool.get_result(after)).text


async def test_stream_yields_deltas_then_one_result(pool: WorkerPool) -> None:
    assert isinstance(pool, Executor)
    items = [item async for item in pool.stream(TaskRequest(prompt="stream me"))]
    assert isinstance(items[-1], CompletionResult)
    assert all(isinstance(i, str) for i in items[:-1]) and len(items) > 3
    assert "".join(items[:-1]) == items[-1].text  # type: ignore[arg-type]


async def test_stream_raises_task_error(pool: WorkerPool) -> None:
    with pytest.raises(CLIExitError):
        async for _ in pool.stream(TaskRequest(prompt="[[sim:exit=4]]")):
            pass


async def test_stream_early_close_kills_worker(pool: WorkerPool) -> None:
    stream = pool.stream(TaskRequest(prompt="[[sim:hang]] long answer"))
    assert isinstance(await stream.__anext__(), str)
    ((task_id, pid),) = pool.live_pids().items()
    await stream.aclose()
    with pytest.raises(TaskCancelledError):
        await pool.get_result(task_id)
    for _ in range(200):
        if not alive(pid):
            break
        await asyncio.sleep(0.01)
    assert not alive(pid)


async def test_run_cancelled_by_caller_kills_worker(pool: WorkerPool) -> None:
    call = asyncio.create_task(pool.run(TaskRequest(prompt="[[sim:hang]]")))
    while not pool.live_pids():
        await asyncio.sleep(0.01)
    ((task_id, pid),) = pool.live_pids().items()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    with pytest.raises(TaskCancelledError):
        await pool.get_result(task_id)
    for _ in range(200):
        if not alive(pid):
            break
        await asyncio.sleep(0.01)
    assert not alive(pid)


async def test_dead_worker_is_detected_and_reaped(
    pool: WorkerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI exits but a child keeps its stdout open: the runner alone would wait until the
    # deadline; the health monitor notices the dead leader and fails the task.
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("CLAUDE_CODE_SIM_PIDFILE", str(pidfile))
    task_id = await pool.submit("[[sim:spawn_child]] [[sim:exit_early]]")
    with pytest.raises(WorkerLostError):
        await pool.get_result(task_id, timeout=8)
    leader, child = map(int, pidfile.read_text().split())
    for _ in range(200):
        if not alive(child):
            break
        await asyncio.sleep(0.01)
    assert not alive(leader) and not alive(child)


async def test_close_lets_in_flight_finish_then_kills(tmp_path: Path) -> None:
    pool = WorkerPool(make_settings(tmp_path, max_workers=2))
    await pool.start()
    quick = await pool.submit("[[sim:delay=0.3]] quick")
    stuck = await pool.submit("[[sim:hang]]")
    await pool.close(grace=1.5)
    assert "quick" in (await pool.get_result(quick)).text
    with pytest.raises(TaskCancelledError):
        await pool.get_result(stuck)
    assert pool.live_pids() == {} and children() == []
    with pytest.raises(BusyError):
        await pool.submit("after close")


async def test_submit_before_start_is_a_bug(settings: Settings) -> None:
    with pytest.raises(RuntimeError):
        await WorkerPool(settings).submit("x")


async def test_no_zombie_or_temp_dir_after_200_mixed_tasks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=8, queue_max=300, task_timeout=5)
    rng = random.Random(7)
    kinds = ["ok"] * 120 + ["error"] * 30 + ["exit"] * 20 + ["timeout"] * 15 + ["kill"] * 15
    rng.shuffle(kinds)
    prompts = {
        "ok": "fine {i}",
        "error": "[[sim:error=rate_limit]] {i}",
        "exit": "[[sim:exit=1]] {i}",
        "timeout": "[[sim:hang]] {i}",
        "kill": "[[sim:delay=30]] {i}",
    }
    async with WorkerPool(settings, monitor_interval=0.1) as pool:
        ids = []
        for i, kind in enumerate(kinds):
            timeout = 0.5 if kind == "timeout" else None
            ids.append(
                await pool.submit(TaskRequest(prompt=prompts[kind].format(i=i), timeout=timeout))
            )
        for task_id, kind in zip(ids, kinds, strict=True):
            if kind == "kill":
                assert await pool.kill(task_id)
        outcomes: dict[str, int] = {}
        for task_id in ids:
            try:
                await pool.get_result(task_id, timeout=60)
                name = "ok"
            except CCAPIError as exc:
                name = type(exc).__name__
            outcomes[name] = outcomes.get(name, 0) + 1
        assert outcomes == {
            "ok": 120,
            "UpstreamRateLimitError": 30,
            "CLIExitError": 20,
            "TaskTimeoutError": 15,
            "TaskCancelledError": 15,
        }
        assert pool.live_pids() == {}
    assert children() == []  # no zombie, no stray process
    assert workdirs(settings) == []


def test_sync_worker_pool(tmp_path: Path) -> None:
    with SyncWorkerPool(make_settings(tmp_path)) as pool:
        task_id = pool.submit("sync hello", model="sonnet", project_id="p")
        assert "sync hello" in pool.get_result(task_id).text
        assert "again" in pool.run(TaskRequest(prompt="again")).text
        items = list(pool.stream(TaskRequest(prompt="streamed")))
        assert isinstance(items[-1], CompletionResult)
        hung = pool.submit("[[sim:hang]]")
        while hung not in pool.live_pids():
            pass
        assert pool.kill(hung)
        assert pool.stats().max_workers == 3
        early = pool.stream(TaskRequest(prompt="[[sim:hang]]"))
        assert isinstance(next(early), str)
        early.close()
        assert pool.live_pids() == {}
