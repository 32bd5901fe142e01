"""Client tool calls on the simulated CLI: the bridge, suspended runs, their cap and timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from claude_code_api.domain import TaskRequest, ToolResult, ToolSpec
from claude_code_api.workers import WorkerPool
from claude_code_api.workers.suspended import NO_RESULT, NOT_PARALLEL
from tests.workers.conftest import alive, children, make_settings, workdirs

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
CLOCK = ToolSpec(
    name="get_time",
    description="Current time.",
    input_schema={"type": "object", "properties": {"tz": {"type": "string"}}},
)


def tool_task(prompt: str, **overrides: object) -> TaskRequest:
    values: dict[str, object] = {"prompt": prompt, "project_id": "p1", "tools": [WEATHER, CLOCK]}
    values.update(overrides)
    return TaskRequest(**values)  # type: ignore[arg-type]


async def wait_until(check: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.05)


async def test_two_steps_in_one_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    prompt = '[[call:get_weather {"city": "Oslo"}]] [[call:get_time]] [[call2:get_weather]]'
    async with WorkerPool(settings) as pool:
        first = await pool.run(tool_task(prompt))
        assert first.suspended and first.stop_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in first.tool_calls] == [
            ("get_weather", {"city": "Oslo"}),
            ("get_time", {}),
        ]
        assert pool.stats().suspended == 1 and pool.stats().busy == 0
        second = await pool.run(
            tool_task(
                "unused",
                tool_results=[
                    ToolResult(first.tool_calls[0].id, "rain"),
                    ToolResult(first.tool_calls[1].id, "noon"),
                ],
            )
        )
        assert second.suspended and [c.name for c in second.tool_calls] == ["get_weather"]
        assert second.tool_calls[0].arguments == {"city": "sample"}
        final = await pool.run(
            tool_task("unused", tool_results=[ToolResult(second.tool_calls[0].id, "snow")])
        )
    assert final.stop_reason == "stop" and final.text == "Tool results: snow"
    assert final.num_turns == 3 and not final.suspended
    # Each turn is billed once: the final result is the last turn alone.
    assert final.usage.output_tokens == len(final.text.split(" "))
    assert workdirs(settings) == [] and children() == []


async def test_streaming_a_tool_turn_yields_the_calls_last(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path)) as pool:
        items = [i async for i in pool.stream(tool_task("[[call:get_time]]"))]
        assert len(items) == 1
        result = items[0]
        assert not isinstance(result, str) and result.tool_calls[0].name == "get_time"
        streamed = [
            i
            async for i in pool.stream(
                tool_task("x", tool_results=[ToolResult(result.tool_calls[0].id, "9 am")])
            )
        ]
    assert "".join(i for i in streamed if isinstance(i, str)) == "Tool results: 9 am"


async def test_a_follow_up_of_another_project_does_not_find_the_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with WorkerPool(settings) as pool:
        first = await pool.run(tool_task("[[call:get_time]]"))
        other = await pool.run(
            tool_task(
                "other project's rebuilt prompt",
                project_id="p2",
                tool_results=[ToolResult(first.tool_calls[0].id, "stolen")],
            )
        )
        assert "stolen" not in other.text and not other.tool_calls
        assert pool.stats().suspended == 1  # still waiting for its own project
    assert workdirs(settings) == [] and children() == []


async def test_an_abandoned_run_times_out_and_frees_everything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tool_call_timeout=0.3)
    async with WorkerPool(settings) as pool:
        first = await pool.run(tool_task("[[call:get_time]]"))
        assert first.suspended
        await wait_until(lambda: pool.stats().suspended == 0)
        await wait_until(lambda: workdirs(settings) == [] and children() == [])
        # The follow-up then starts afresh from the rebuilt prompt.
        again = await pool.run(
            tool_task(
                "user: what time? [[call:get_time]]\n<tool_results>\n9\n</tool_results>",
                tool_results=[ToolResult(first.tool_calls[0].id, "9")],
            )
        )
        assert again.stop_reason == "stop" and not again.tool_calls


async def test_the_cap_ends_the_oldest_suspended_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_suspended_runs=2, max_workers=2)
    async with WorkerPool(settings) as pool:
        runs = [await pool.run(tool_task("[[call:get_time]]")) for _ in range(3)]
        assert all(r.suspended for r in runs)
        await wait_until(lambda: pool.stats().suspended == 2)
        # Suspended runs hold no worker: a plain task still runs at once.
        plain = await pool.run(TaskRequest(prompt="hello"))
        assert plain.stop_reason == "stop"
        oldest = await pool.run(
            tool_task("rebuilt", tool_results=[ToolResult(runs[0].tool_calls[0].id, "LATE-RESULT")])
        )
        assert "LATE-RESULT" not in oldest.text  # evicted: answered from the rebuilt prompt
        newest = await pool.run(
            tool_task("rebuilt", tool_results=[ToolResult(runs[2].tool_calls[0].id, "fresh")])
        )
        assert newest.text == "Tool results: fresh"
    assert workdirs(settings) == [] and children() == []


async def test_missing_results_and_sequential_calls(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path)) as pool:
        first = await pool.run(
            tool_task("[[call:get_time]] [[call:get_weather]]", parallel_tool_calls=False)
        )
        # Only one call returned; the model was told the other did not run.
        assert [c.name for c in first.tool_calls] == ["get_time"]
        final = await pool.run(tool_task("x", tool_results=[ToolResult("toolu_other", "?")]))
        assert NOT_PARALLEL not in final.text  # another id: not this run's follow-up
        pool_stats = pool.stats()
        assert pool_stats.suspended == 1
        done = await pool.run(
            tool_task("x", tool_results=[ToolResult(first.tool_calls[0].id, "noon")])
        )
    assert done.text == f"Tool results: noon | {NOT_PARALLEL}"


async def test_a_result_left_out_is_answered_as_an_error(tmp_path: Path) -> None:
    async with WorkerPool(make_settings(tmp_path)) as pool:
        first = await pool.run(tool_task("[[call:get_time]] [[call:get_weather]]"))
        done = await pool.run(
            tool_task("x", tool_results=[ToolResult(first.tool_calls[1].id, "hail")])
        )
    assert done.text == f"Tool results: {NO_RESULT} | hail"


async def test_strict_tools_report_arguments_that_fail_the_schema(tmp_path: Path) -> None:
    strict = ToolSpec(
        name="get_weather",
        input_schema=dict(WEATHER.input_schema, additionalProperties=False),
        strict=True,
    )
    async with WorkerPool(make_settings(tmp_path)) as pool:
        bad = await pool.run(tool_task('[[call:get_weather {"town": "Rome"}]]', tools=[strict]))
        good = await pool.run(tool_task('[[call:get_weather {"city": "Rome"}]]', tools=[strict]))
    assert "'city' is a required property" in bad.tool_calls[0].error
    assert good.tool_calls[0].error == ""


@pytest.mark.parametrize("choice", ["none", "get_time"])
async def test_tool_choice_limits_what_is_offered(tmp_path: Path, choice: str) -> None:
    async with WorkerPool(make_settings(tmp_path)) as pool:
        result = await pool.run(
            tool_task("[[call:get_weather]] [[call:get_time]]", tool_choice=choice)
        )
    names = [c.name for c in result.tool_calls]
    assert names == ([] if choice == "none" else ["get_time"])


async def test_closing_the_pool_kills_suspended_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    pool = WorkerPool(settings)
    await pool.start()
    await pool.run(tool_task("[[call:get_time]]"))
    held = [pid for pid, _state in children()]
    assert held and all(alive(pid) for pid in held)
    await pool.close(grace=0)
    assert workdirs(settings) == [] and children() == []
    assert not any(alive(pid) for pid in held)
