"""WarmRunner: reused CLI processes (simulated CLI, and the real binary on the fake upstream)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, Mode, TaskRequest
from claude_code_api.errors import (
    CLIExitError,
    CLIOutputError,
    TaskCancelledError,
    TaskTimeoutError,
    UpstreamOverloadedError,
)
from claude_code_api.workers import CLIRunner, WorkerPool
from claude_code_api.workers.warm import WarmKey, WarmRunner, warm_eligible
from tests.fakes.upstream import DEFAULT_REPLY, FakeAnthropic
from tests.workers.conftest import alive, children, make_settings, workdirs


@pytest.fixture
async def warm(settings: Settings) -> AsyncIterator[WarmRunner]:
    runner = WarmRunner(settings, spares=0)  # no background spares: counts stay exact
    yield runner
    await runner.aclose()


async def run(
    runner: WarmRunner, task: TaskRequest, pids: list[int], **kw: float
) -> CompletionResult:
    """Run a task to its result, recording the pid of the process that served it."""
    result = None
    async for item in runner.stream(task, on_spawn=lambda p: pids.append(p.pid), **kw):
        if isinstance(item, CompletionResult):
            result = item
    assert result is not None
    return result


async def test_two_tasks_share_one_process_with_a_fresh_conversation(
    warm: WarmRunner, settings: Settings
) -> None:
    pids: list[int] = []
    first = await run(warm, TaskRequest(prompt="the first question", model="haiku"), pids)
    second = await run(warm, TaskRequest(prompt="a second question", model="haiku"), pids)
    await warm.quiesce()  # the /clear after a task runs in the background
    assert pids[0] == pids[1] and alive(pids[0])
    assert (warm.spawned, warm.reused) == (1, 1)
    assert warm.idle_pids() == [pids[0]]
    # No trace of the first task: same tokens and cost as a cold run of the second prompt
    # (the simulated CLI, like the real one, counts the conversation and reports cumulative
    # cost per process).
    cold = await CLIRunner(settings).run(TaskRequest(prompt="a second question", model="haiku"))
    assert second.text == cold.text
    assert second.usage == cold.usage
    assert first.usage.cost_usd > 0 and second.usage.cost_usd == cold.usage.cost_usd


async def test_streaming_deltas_and_pool_default_runner(tmp_path: Path) -> None:
    assert Settings().warm_workers  # the default
    settings = make_settings(tmp_path, max_workers=2, warm_spares=0, warm_workers=True)
    pool = WorkerPool(settings)
    assert isinstance(pool.runner, WarmRunner)
    assert not isinstance(WorkerPool(make_settings(tmp_path, warm_workers=False)).runner,
                          WarmRunner)  # fmt: skip
    async with pool:
        items = [i async for i in pool.stream(TaskRequest(prompt="stream me", model="haiku"))]
        again = await pool.run(TaskRequest(prompt="stream me", model="haiku"))
        await pool.runner.quiesce()
        idle = pool.runner.idle_pids()
    result = items[-1]
    assert isinstance(result, CompletionResult)
    assert "".join(str(i) for i in items[:-1]) == result.text == again.text
    assert pool.runner.spawned == 1 and len(idle) == 1
    assert not alive(idle[0])  # pool.close() retired the idle process
    assert children() == [] and workdirs(settings) == []


@pytest.mark.parametrize(
    "other",
    [
        TaskRequest(prompt="q", model="haiku", system_prompt="Answer in French."),
        TaskRequest(prompt="q", model="haiku", project_id="another-project"),
    ],
    ids=["system_prompt", "project"],
)
async def test_other_projects_and_system_prompts_do_not_share(
    warm: WarmRunner, other: TaskRequest
) -> None:
    pids: list[int] = []
    await run(warm, TaskRequest(prompt="q", model="haiku"), pids)
    await run(warm, other, pids)
    await warm.quiesce()
    assert pids[0] != pids[1]
    assert sorted(warm.idle_pids()) == sorted(pids)
    pids.clear()
    await run(warm, TaskRequest(prompt="again", model="haiku"), pids)
    assert warm.spawned == 2 and warm.reused == 1


async def test_model_and_max_tokens_are_set_per_task_on_one_process(
    warm: WarmRunner, settings: Settings
) -> None:
    pids: list[int] = []
    tasks = [
        TaskRequest(prompt="one", model="haiku"),
        TaskRequest(prompt="two", model="sonnet", max_tokens=500),
        TaskRequest(prompt="three", model="haiku"),
        TaskRequest(prompt="four", model="sonnet", max_tokens=5),  # truncated: retired after
    ]
    results = [await run(warm, task, pids) for task in tasks]
    assert len(set(pids)) == 1 and warm.spawned == 1 and warm.switches == 3
    for task, result in zip(tasks, results, strict=True):
        cold = await CLIRunner(settings).run(task)
        assert (result.text, result.model, result.stop_reason) == (
            cold.text,
            cold.model,
            cold.stop_reason,
        )
        # The /model switch left nothing behind: same tokens and cost as a cold run.
        assert result.usage.cost_usd == pytest.approx(cold.usage.cost_usd)
        result.usage.cost_usd = cold.usage.cost_usd
        assert result.usage == cold.usage
    assert results[3].stop_reason == "length" and results[3].usage.output_tokens == 5
    assert warm.stats()["hit_ratio"] == 0.75 and warm.stats()["misses"] == 1
    assert warm.idle_pids() == []


def test_warm_key_and_eligibility(settings: Settings) -> None:
    key = WarmKey.of(settings, TaskRequest(prompt="x", model="haiku", project_id="p1"))
    assert key.project_id == "p1" and not key.bare
    assert key.system_prompt == settings.default_system_prompt
    assert key == WarmKey.of(settings, TaskRequest(prompt="y", model="opus", max_tokens=9,
                                                   project_id="p1"))  # fmt: skip
    assert warm_eligible(TaskRequest(prompt="hi"))
    assert not warm_eligible(TaskRequest(prompt=" /cost"))  # would be a slash command
    assert not warm_eligible(TaskRequest(prompt="hi", mode=Mode.AGENT))


@pytest.mark.parametrize(
    "task",
    [TaskRequest(prompt="/cost", model="haiku"), TaskRequest(prompt="hi", mode=Mode.AGENT)],
    ids=["slash_command", "agent"],
)
async def test_slash_commands_and_agent_mode_run_cold(warm: WarmRunner, task: TaskRequest) -> None:
    pids: list[int] = []
    await run(warm, task, pids)
    await run(warm, task, pids)
    assert pids[0] != pids[1] and warm.spawned == 0 and warm.idle_pids() == []


@pytest.mark.parametrize(
    ("marker", "error"),
    [
        ("[[sim:error=overloaded]]", UpstreamOverloadedError),
        ("[[sim:exit=3]]", CLIExitError),
        ("[[sim:no_result]]", CLIOutputError),
        ("[[sim:malformed]]", TaskTimeoutError),  # the CLI keeps waiting for more input
        ("[[sim:big=50000]]", CLIOutputError),
        ("[[sim:hang]]", TaskTimeoutError),
    ],
)
async def test_a_failed_task_retires_its_process(
    tmp_path: Path, marker: str, error: type[Exception]
) -> None:
    settings = make_settings(tmp_path, max_output_bytes=20_000)
    runner = WarmRunner(settings, spares=0)
    pids: list[int] = []
    await run(runner, TaskRequest(prompt="warm up", model="haiku"), pids)
    with pytest.raises(error):
        await run(runner, TaskRequest(prompt=f"fail {marker}", model="haiku"), pids, timeout=1)
    assert pids[0] == pids[1] and not alive(pids[1])
    assert runner.idle_pids() == []
    await run(runner, TaskRequest(prompt="next", model="haiku"), pids)
    assert pids[2] != pids[1]  # a fresh process
    await runner.aclose()
    assert children() == [] and workdirs(settings) == []


async def test_error_detail_and_exit_status(warm: WarmRunner) -> None:
    with pytest.raises(CLIExitError) as caught:
        await run(warm, TaskRequest(prompt="[[sim:exit=7]]", model="haiku"), [])
    assert caught.value.returncode == 7
    assert "simulated crash" in caught.value.detail and "sk-ant" not in caught.value.detail


async def test_truncated_answer_retires_the_process(warm: WarmRunner) -> None:
    pids: list[int] = []
    result = await run(warm, TaskRequest(prompt="talk", model="haiku", max_tokens=3), pids)
    assert result.stop_reason == "length" and result.usage.output_tokens == 3
    assert not alive(pids[0]) and warm.idle_pids() == []


async def test_closing_the_stream_early_kills_the_process(
    warm: WarmRunner, settings: Settings
) -> None:
    pids: list[int] = []
    stream = warm.stream(
        TaskRequest(prompt="slow [[sim:chunk_delay=0.2]]", model="haiku"),
        on_spawn=lambda p: pids.append(p.pid),
    )
    assert isinstance(await anext(stream), str)
    await stream.aclose()
    assert not alive(pids[0]) and warm.idle_pids() == []
    assert workdirs(settings) == []


async def test_pool_kill_retires_a_warm_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, warm_workers=True)
    async with WorkerPool(settings) as pool:
        task_id = await pool.submit(TaskRequest(prompt="[[sim:hang]]", model="haiku"))
        while not pool.live_pids():
            await asyncio.sleep(0.02)
        pid = pool.live_pids()[task_id]
        assert await pool.kill(task_id)
        with pytest.raises(TaskCancelledError):
            await pool.get_result(task_id)
        assert not alive(pid)
    assert children() == []


async def test_idle_processes_are_capped_and_expire(tmp_path: Path) -> None:
    runner = WarmRunner(make_settings(tmp_path), max_processes=1, spares=0)
    pids: list[int] = []
    await run(runner, TaskRequest(prompt="a", model="haiku"), pids)
    await runner.quiesce()  # else the first process still clears: at the cap, "b" runs cold
    await run(runner, TaskRequest(prompt="b", model="haiku", project_id="p2"), pids)
    await runner.quiesce()
    assert runner.idle_pids() == [pids[1]]
    while alive(pids[0]):  # the least recently used one is retired in the background
        await asyncio.sleep(0.01)
    runner.idle_ttl = 0.0
    await asyncio.sleep(0.01)
    await run(runner, TaskRequest(prompt="c", model="haiku", project_id="p2"), pids)
    assert pids[2] != pids[1]  # expired, replaced
    while alive(pids[1]):
        await asyncio.sleep(0.01)
    await runner.aclose()
    assert runner.idle_pids() == [] and not alive(pids[2])
    await run(runner, TaskRequest(prompt="d", model="haiku", project_id="p2"), pids)  # cold
    assert runner.spawned == 3 and children() == []


async def test_a_process_that_died_while_idle_is_replaced(warm: WarmRunner) -> None:
    pids: list[int] = []
    await run(warm, TaskRequest(prompt="a", model="haiku"), pids)
    os.killpg(pids[0], signal.SIGKILL)
    await asyncio.sleep(0.1)
    result = await run(warm, TaskRequest(prompt="b", model="haiku"), pids)
    assert result.text and pids[1] != pids[0] and warm.spawned == 2


async def test_a_process_killed_just_before_reuse_does_not_fail_the_task(
    warm: WarmRunner,
) -> None:
    pids: list[int] = []
    for i in range(3):
        await run(warm, TaskRequest(prompt="a", model="haiku"), pids)
        os.killpg(pids[-1], signal.SIGKILL)  # no wait: the runner may not have noticed yet
        result = await run(warm, TaskRequest(prompt=f"b{i}", model="haiku"), pids)
        assert f"You said: b{i}" in result.text and not alive(pids[-2])
    assert warm.spawned == 4


@pytest.mark.real_cli
async def test_real_binary_answers_two_tasks_warm(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    runner = WarmRunner(settings, spares=0)
    pids: list[int] = []
    task = TaskRequest(prompt="first ALPHA", model="haiku", system_prompt="Be brief. SYS1")
    first = await run(runner, task, pids)
    task.prompt = "second BETA"
    second = await run(runner, task, pids)
    await runner.aclose()
    assert pids[0] == pids[1] and runner.spawned == 1
    assert first.text == second.text == DEFAULT_REPLY
    calls = fake_upstream.messages
    assert len(calls) == 2  # /clear made no model call
    body = calls[1].body
    assert len(body["messages"]) == 1  # the conversation was reset
    assert "second BETA" in str(body["messages"]) and "ALPHA" not in str(body["messages"])
    assert "SYS1" in calls[1].system_text and calls[1].tools == []
    # Per-task cost, not the process's cumulative total (the CLI's own haiku 4.5 rates:
    # $1 / $5 per million input / output tokens):
    usage = second.usage
    assert usage.cost_usd == pytest.approx(usage.input_tokens * 1e-6 + usage.output_tokens * 5e-6)
    assert first.usage.cost_usd == pytest.approx(
        first.usage.input_tokens * 1e-6 + first.usage.output_tokens * 5e-6
    )
    assert children() == [] and workdirs(settings) == []


async def test_a_task_waits_for_a_busy_process_rather_than_a_cold_start(
    warm: WarmRunner,
) -> None:
    pids: list[int] = []
    await run(warm, TaskRequest(prompt="warm up", model="haiku"), pids)
    await warm.quiesce()
    first, second = await asyncio.gather(
        run(warm, TaskRequest(prompt="one [[sim:delay=0.2]]", model="haiku"), pids),
        run(warm, TaskRequest(prompt="two", model="sonnet", max_tokens=50), pids),
    )
    assert "You said: one" in first.text and "You said: two" in second.text
    assert len(set(pids)) == 1 and warm.spawned == 1
    assert (warm.stats()["hits"], warm.stats()["misses"]) == (2, 1)


async def test_spares_are_started_in_the_background_and_capped(tmp_path: Path) -> None:
    runner = WarmRunner(make_settings(tmp_path), spares=1, max_processes=3)
    pids: list[int] = []
    for project in ("p1", "p2", "p3"):
        await run(runner, TaskRequest(prompt="hi", model="haiku", project_id=project), pids)
        await runner.quiesce()
    # p1 started a process (a miss) and a spare in the background; p2 took that spare and a
    # new spare filled the last slot; p3 took it, and no room was left for another spare.
    assert runner.process_count() == 3 and runner.spawned == 3
    assert (runner.stats()["hits"], runner.stats()["misses"]) == (2, 1)
    assert runner.stats()["spares"] == 0
    for project in ("p1", "p2", "p3"):  # each project keeps its own process
        await run(runner, TaskRequest(prompt="again", model="haiku", project_id=project), pids)
        await runner.quiesce()
    assert runner.stats()["hits"] == 5 and runner.spawned == 3 and len(set(pids)) == 3
    await run(runner, TaskRequest(prompt="hi", model="haiku", project_id="p4"), pids)
    await runner.quiesce()  # at the cap: the least recently used idle process made room
    assert runner.spawned == 4 and runner.process_count() == 3 and pids[-1] not in pids[:-1]
    await runner.aclose()
    assert children() == []


async def test_a_spare_serves_a_new_system_prompt_and_model(
    tmp_path: Path, settings: Settings
) -> None:
    runner = WarmRunner(make_settings(tmp_path), spares=1)
    pids: list[int] = []
    await run(runner, TaskRequest(prompt="warm", model="haiku"), pids)
    await runner.quiesce()
    task = TaskRequest(prompt="q", model="sonnet", system_prompt="Answer in French.", max_tokens=7)
    result = await run(runner, task, pids)
    cold = await CLIRunner(settings).run(task)
    assert result.text == cold.text and result.model == cold.model
    assert result.usage.input_tokens == cold.usage.input_tokens  # the system prompt applied
    assert runner.stats()["hits"] == 1 and pids[0] != pids[1]
    await runner.aclose()
