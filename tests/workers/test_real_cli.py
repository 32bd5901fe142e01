"""The worker pool running the REAL ``claude`` binary against the fake Anthropic upstream."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, TaskRequest
from claude_code_api.errors import UpstreamAuthError, UpstreamOverloadedError
from claude_code_api.pricing import tier_of
from claude_code_api.token_tracker import parse_claude_output
from claude_code_api.workers import CLIRunner, WorkerPool, build_argv, build_env, check_cli
from tests.fakes.upstream import DEFAULT_REPLY, FakeAnthropic, Reply
from tests.workers.conftest import children, make_settings, workdirs

pytestmark = pytest.mark.real_cli


def real_settings(tmp_path: Path, claude_bin: str, **overrides: object) -> Settings:
    return make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60, **overrides)


async def test_real_binary_stream_json(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = real_settings(tmp_path, claude_bin)
    async with WorkerPool(settings) as pool:
        items = [
            i
            async for i in pool.stream(
                TaskRequest(
                    prompt="Say hello", model="haiku", system_prompt="Be brief.", max_tokens=300
                )
            )
        ]
    result = items[-1]
    assert isinstance(result, CompletionResult)
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == DEFAULT_REPLY
    assert result.text == DEFAULT_REPLY
    assert result.stop_reason == "stop"
    # The alias goes to the CLI, which resolves it to its current haiku (the id that answered
    # is reported).
    assert tier_of(result.model) == "haiku" and result.model.startswith("claude-haiku-")
    call = fake_upstream.messages[-1]
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens == len(DEFAULT_REPLY.split(" "))
    assert result.usage.cost_usd > 0  # the CLI's own total_cost_usd
    # What the binary sent upstream in chat mode:
    assert call.body["model"] == result.model
    assert call.body["max_tokens"] == 300  # CLAUDE_CODE_MAX_OUTPUT_TOKENS became max_tokens
    assert call.tools == []  # --tools "": no tool schema, nothing can touch the server
    assert "Be brief." in call.system_text and len(call.system_text) < 2000
    assert "Say hello" in str(call.body["messages"])
    assert workdirs(settings) == [] and children() == []


async def test_real_binary_run_and_token_accounting(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str]
) -> None:
    with FakeAnthropic(lambda body: Reply(text="forty two", input_tokens=1234)) as upstream:
        env = upstream.cli_env(
            tmp_path / "home2", CLAUDE_CODE_MAX_RETRIES="0", PATH=os.environ["PATH"]
        )
        (tmp_path / "home2").mkdir()
        # CCAPI_TIER_MODELS pins the sonnet tier to a full id, which reaches the upstream as is.
        settings = real_settings(tmp_path, claude_bin, tier_models={"sonnet": "claude-sonnet-4-5"})
        runner = CLIRunner(settings, base_env=env)
        result = await runner.run(TaskRequest(prompt="What is 6*7?", model="sonnet"))
    assert result.text == "forty two"
    assert result.usage.input_tokens == 1234 and result.usage.output_tokens == 2
    assert result.model == "claude-sonnet-4-5"
    assert upstream.messages[-1].body["model"] == "claude-sonnet-4-5"
    assert result.usage.cost_usd > 0
    assert len(upstream.messages) == 1


async def test_real_binary_max_tokens_gives_length(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = real_settings(tmp_path, claude_bin)
    result = await CLIRunner(settings).run(TaskRequest(prompt="Talk", model="haiku", max_tokens=3))
    assert result.stop_reason == "length"
    assert result.text == "Hello from the "
    assert result.usage.output_tokens == 3
    assert fake_upstream.messages[0].body["max_tokens"] == 3
    # Stopped before the CLI's paid continuations: left alone it sends up to 3 more requests
    # after a max_tokens stop. It sends the first as it prints the event the runner stops on, so
    # on a busy machine that one may start before the stop lands (a race no caller can win).
    assert len(fake_upstream.messages) <= 2


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (529, "overloaded_error", UpstreamOverloadedError),
        (401, "authentication_error", UpstreamAuthError),
    ],
)
async def test_real_binary_upstream_errors_are_classified(
    tmp_path: Path,
    claude_bin: str,
    real_cli_env: dict[str, str],
    status: int,
    kind: str,
    error: type,
) -> None:
    with FakeAnthropic(lambda body: Reply(status=status, error_type=kind)) as upstream:
        home = tmp_path / "h"
        home.mkdir()
        env = upstream.cli_env(home, CLAUDE_CODE_MAX_RETRIES="0", PATH=os.environ["PATH"])
        runner = CLIRunner(real_settings(tmp_path, claude_bin), base_env=env)
        with pytest.raises(error) as caught:
            await runner.run(TaskRequest(prompt="hi", model="haiku"))
    assert caught.value.api_error_status == status


async def test_check_cli_reports_real_version(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str]
) -> None:
    status = await check_cli(real_settings(tmp_path, claude_bin))
    assert status.ok and "Claude Code" in status.version


async def test_real_binary_json_output_parses(
    tmp_path: Path, claude_bin: str, fake_upstream: FakeAnthropic, real_cli_env: dict[str, str]
) -> None:
    settings = real_settings(tmp_path, claude_bin)
    task = TaskRequest(prompt="Say hello", model="opus", max_tokens=200)
    argv = build_argv(settings, task)
    argv[argv.index("stream-json")] = "json"
    argv.remove("--include-partial-messages")
    argv.remove("--verbose")  # with --verbose, json is an array of every event
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=build_env(settings, task),
        cwd=tmp_path,
        start_new_session=True,
    )
    out, _ = await asyncio.wait_for(proc.communicate(task.prompt.encode()), 60)
    result = parse_claude_output(out)
    assert result.text == DEFAULT_REPLY
    # The CLI may remap a retired id (2.1.197 sends claude-opus-4-1 as claude-opus-4-8): the
    # result names the model that really answered.
    assert result.model == fake_upstream.messages[-1].body["model"]
    assert tier_of(result.model) == "opus"
    assert result.usage.output_tokens == len(DEFAULT_REPLY.split(" "))
    assert result.usage.input_tokens > 0 and result.usage.cost_usd > 0
    assert fake_upstream.messages[-1].body["max_tokens"] == 200


@pytest.mark.parametrize(
    ("model", "budget", "effort", "thinking", "sent_effort"),
    [
        ("haiku", 0, None, {"type": "disabled"}, None),  # the chat-mode default: no thinking
        ("haiku", 2048, None, {"type": "enabled", "budget_tokens": 2048}, None),
        ("haiku", None, None, {"type": "enabled", "budget_tokens": 31999}, None),  # CLI default
        ("sonnet", 0, "low", {"type": "disabled"}, "low"),
        ("sonnet", 4096, "medium", {"type": "adaptive"}, "medium"),
        ("sonnet", None, None, {"type": "adaptive"}, "high"),
    ],
)
async def test_thinking_reaches_the_upstream_only_when_asked(
    tmp_path: Path,
    claude_bin: str,
    fake_upstream: FakeAnthropic,
    real_cli_env: dict[str, str],
    model: str,
    budget: int | None,
    effort: str | None,
    thinking: dict[str, object],
    sent_effort: str | None,
) -> None:
    runner = CLIRunner(real_settings(tmp_path, claude_bin))
    task = TaskRequest(prompt="hi", model=model, thinking_budget=budget, effort=effort)
    await runner.run(task)
    body = fake_upstream.messages[-1].body
    assert body["thinking"] == thinking
    assert (body.get("output_config") or {}).get("effort") == sent_effort


async def test_thinking_tokens_are_counted_apart(tmp_path: Path, claude_bin: str) -> None:
    thought = "Let me think about this step by step before I answer the question."
    with FakeAnthropic(lambda body: Reply(text="forty two", thinking=thought)) as upstream:
        home = tmp_path / "home3"
        home.mkdir()
        env = upstream.cli_env(home, CLAUDE_CODE_MAX_RETRIES="0", PATH=os.environ["PATH"])
        runner = CLIRunner(real_settings(tmp_path, claude_bin), base_env=env)
        task = TaskRequest(prompt="What is 6*7?", model="haiku", thinking_budget=2048)
        result = await runner.run(task)
    assert result.text == "forty two"  # the thinking is never part of the answer
    assert 0 < result.usage.thinking_tokens < result.usage.output_tokens
    assert result.usage.output_tokens == 2 + len(thought.split(" "))
