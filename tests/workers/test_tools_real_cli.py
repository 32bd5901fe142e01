"""Client tool calls on the REAL ``claude`` binary: the MCP bridge and suspended runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_code_api.domain import CompletionResult, TaskRequest, ToolResult, ToolSpec
from claude_code_api.workers import WorkerPool
from tests.fakes.upstream import FakeAnthropic
from tests.workers.conftest import children, make_settings, workdirs

pytestmark = pytest.mark.real_cli

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
    description="Current time in a time zone.",
    input_schema={
        "type": "object",
        "properties": {"tz": {"type": "string"}},
        "required": ["tz"],
    },
)


def tool_task(prompt: str, **overrides: object) -> TaskRequest:
    values: dict[str, object] = {
        "prompt": prompt,
        "model": "haiku",
        "project_id": "p1",
        "tools": [WEATHER, CLOCK],
    }
    values.update(overrides)
    return TaskRequest(**values)  # type: ignore[arg-type]


async def test_parallel_calls_suspend_then_resume_in_the_same_process(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    prompt = 'Weather and time? [[call:get_weather {"city": "Paris"}]] [[call:get_time]]'
    async with WorkerPool(settings) as pool:
        first = await pool.run(tool_task(prompt))
        assert first.stop_reason == "tool_calls" and first.suspended
        assert [(c.name, c.arguments) for c in first.tool_calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"tz": "sample"}),
        ]
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
        # The process waits: no worker slot held, nothing more sent upstream.
        assert pool.stats().suspended == 1 and pool.stats().busy == 0
        assert len(fake_upstream.messages) == 1
        held = list(pool.live_pids().values())
        assert held == []  # parked, not running
        results = [
            ToolResult(first.tool_calls[0].id, "sunny, 21 C"),
            ToolResult(first.tool_calls[1].id, "14:05"),
        ]
        final = await pool.run(tool_task("(rebuilt prompt, unused)", tool_results=results))
        assert pool.stats().suspended == 0
    assert final.stop_reason == "stop" and not final.tool_calls
    assert "sunny, 21 C" in final.text and "14:05" in final.text
    # The upstream got real tool definitions and real tool_result blocks, in one process.
    offered = fake_upstream.messages[0].body["tools"]
    assert sorted(t["name"] for t in offered) == ["mcp__t__get_time", "mcp__t__get_weather"]
    assert offered[1]["input_schema"] == WEATHER.input_schema
    system = fake_upstream.messages[0].system_text
    assert "mcp__t__get_weather" in system
    last = fake_upstream.messages[-1].body["messages"]
    blocks = last[-1]["content"]
    assert {b["tool_use_id"] for b in blocks} == {c.id for c in first.tool_calls}
    assert "(rebuilt prompt, unused)" not in json.dumps(last)
    assert len(fake_upstream.messages) == 2
    assert final.usage.output_tokens > 0
    assert workdirs(settings) == [] and children() == []


async def test_results_for_a_gone_run_start_afresh_with_the_rebuilt_prompt(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    rebuilt = "user: weather? [[call:get_weather]]\n<tool_results>\nsunny\n</tool_results>\n"
    async with WorkerPool(settings) as pool:
        result = await pool.run(
            tool_task(rebuilt, tool_results=[ToolResult("toolu_unknown", "sunny")])
        )
    assert isinstance(result, CompletionResult)
    assert result.stop_reason == "stop" and not result.tool_calls
    assert len(fake_upstream.messages) == 1
    assert workdirs(settings) == [] and children() == []


async def test_closing_the_pool_ends_suspended_runs(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60)
    async with WorkerPool(settings) as pool:
        first = await pool.run(tool_task("[[call:get_time]]"))
        assert first.suspended and pool.stats().suspended == 1
    assert workdirs(settings) == [] and children() == []
