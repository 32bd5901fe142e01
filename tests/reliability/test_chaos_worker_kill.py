"""SIGKILL a queue worker holding a hung CLI (issue 11, item 7): no orphan survives.

The CLI dies with its worker (parent-death signal); what the parent-death signal cannot reach
(the CLI's own child) and the task directory are swept by the next worker that starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from claude_code_api.cache import DistributedExecutor, RedisWorkQueue
from claude_code_api.cache.guard import make_client
from claude_code_api.domain import TaskRequest
from tests.cache.conftest import alive, cli_pids, gone
from tests.cache.test_worker_process import WorkerProcess


@pytest.fixture
async def executor(redis_url: str, redis_prefix: str) -> AsyncIterator[DistributedExecutor]:
    queue = RedisWorkQueue(make_client(redis_url, socket_timeout=5), redis_prefix)
    made = DistributedExecutor(queue, None, start_timeout=60, idle_timeout=60)
    yield made
    await made.close()


async def test_sigkilled_worker_leaves_no_cli_no_child_and_no_task_dir(
    redis_url: str, redis_prefix: str, executor: DistributedExecutor, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    pidfile = tmp_path / "cli.pid"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")}
    env.update(
        CCAPI_REDIS_URL=redis_url,
        CCAPI_REDIS_PREFIX=redis_prefix,
        CCAPI_DEMO="true",
        CCAPI_WORKDIR_ROOT=str(work),
        CCAPI_TASK_TIMEOUT="600",  # the hung CLI would live this long without the fix
        # Cold task processes (ccapi-task-*): warm ones get the same parent-death signal
        # (workers.warm spawns with orphans.die_with_parent) but keep spares around, which
        # would blur the "nothing left behind" assertion below.
        CCAPI_WARM_WORKERS="false",
        CLAUDE_CODE_SIM_PIDFILE=str(pidfile),
    )
    doomed = WorkerProcess(env, tmp_path / "a.log")
    successor: WorkerProcess | None = None
    stream = executor.stream(
        TaskRequest(prompt="[[sim:spawn_child]] [[sim:hang]] hello", model="haiku")
    )
    try:
        first = await asyncio.wait_for(anext(stream), 60)
        assert isinstance(first, str)
        cli, child = await cli_pids(pidfile)
        assert [p.name[:11] for p in work.iterdir()] == ["ccapi-task-"]

        os.kill(doomed.proc.pid, signal.SIGKILL)  # the worker alone: no cleanup code runs
        assert doomed.proc.wait(timeout=10) == -signal.SIGKILL
        await asyncio.wait_for(gone([cli]), 15)  # parent-death signal

        successor = WorkerProcess(env, tmp_path / "b.log")
        await asyncio.to_thread(successor.wait_ready, 60)
        await asyncio.wait_for(gone([child]), 15)  # swept at start
        assert not any(p.name.startswith("ccapi-") for p in work.iterdir())
        assert "swept 1 task directories" in successor.log.read_text(errors="replace")
    finally:
        await stream.aclose()
        for worker in (doomed, successor):
            if worker is not None:
                worker.kill_group()
                worker.proc.wait(timeout=10)
                worker.handle.close()
        for pid in [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
