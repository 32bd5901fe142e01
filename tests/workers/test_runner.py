"""One CLI call through CLIRunner, on the simulated CLI (the process boundary)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, Mode, TaskRequest
from claude_code_api.errors import (
    CLIBudgetCapError,
    CLIExitError,
    CLINotFoundError,
    CLIOutputError,
    CLIResultError,
    TaskTimeoutError,
    UpstreamAuthError,
    UpstreamOverloadedError,
    UpstreamRateLimitError,
)
from claude_code_api.workers import CLIRunner, build_argv, build_env
from tests.workers.conftest import alive, make_settings, workdirs


def expected_digest(prompt: str) -> str:
    data = prompt.encode()
    return f"bytes={len(data)} sha256={hashlib.sha256(data).hexdigest()}"


async def collect(runner: CLIRunner, task: TaskRequest) -> tuple[list[str], CompletionResult]:
    deltas: list[str] = []
    result = None
    async for item in runner.stream(task):
        if isinstance(item, CompletionResult):
            result = item
        else:
            deltas.append(item)
    assert result is not None
    return deltas, result


def test_chat_mode_argv(settings: Settings) -> None:
    argv = build_argv(
        settings, TaskRequest(prompt="secret prompt", model="haiku", system_prompt="Be brief.")
    )
    assert "secret prompt" not in " ".join(argv)  # the prompt goes on stdin
    assert argv[argv.index("--model") + 1] == "haiku"  # resolved by the CLI itself
    assert argv[argv.index("--tools") + 1] == ""
    assert argv[argv.index("--system-prompt") + 1] == "Be brief."
    assert argv[argv.index("--output-format") + 1] == "stream-json"
    for flag in ("-p", "--verbose", "--include-partial-messages", "--no-session-persistence"):
        assert flag in argv
    assert "--bare" not in argv and "--max-budget-usd" not in argv


def test_bare_and_default_system_prompt(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bare=True, default_system_prompt="Default.")
    argv = build_argv(settings, TaskRequest(prompt="x", model="claude-opus-4-1-20250805"))
    assert "--bare" in argv
    assert argv[argv.index("--system-prompt") + 1] == "Default."
    assert argv[argv.index("--model") + 1] == "claude-opus-4-1-20250805"


def test_agent_mode_argv(settings: Settings) -> None:
    argv = build_argv(settings, TaskRequest(prompt="x", mode=Mode.AGENT, max_budget_usd=0.5))
    assert "--tools" not in argv and "--system-prompt" not in argv
    assert argv[argv.index("--max-budget-usd") + 1] == "0.500000"


def test_env_allowlist(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env_allowlist=["AWS_*", "GOOGLE_CLOUD_PROJECT"])
    base = {
        "CLAUDECODE": "1",
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "ANTHROPIC_API_KEY": "k",
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "AWS_REGION": "eu",
        "GOOGLE_CLOUD_PROJECT": "p",
        "DATABASE_URL": "postgres://secret",
        "CCAPI_ADMIN_KEY": "admin",
    }
    env = build_env(settings, TaskRequest(prompt="x", max_tokens=64), base)
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "64"
    assert {
        "PATH",
        "HOME",
        "LC_ALL",
        "ANTHROPIC_API_KEY",
        "AWS_REGION",
        "GOOGLE_CLOUD_PROJECT",
        "CLAUDE_CODE_USE_BEDROCK",
    } <= env.keys()
    assert not {"CLAUDECODE", "DATABASE_URL", "CCAPI_ADMIN_KEY"} & env.keys()


async def test_cli_sees_only_allowlisted_env(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.setenv("SOME_SERVICE_SECRET", "x")
    result = await CLIRunner(settings).run(TaskRequest(prompt="[[sim:echo_env]]"))
    names = set(result.text.removeprefix("env: ").split())
    assert "PATH" in names
    assert "CLAUDECODE" not in names and "SOME_SERVICE_SECRET" not in names


async def test_streams_deltas_then_result(settings: Settings) -> None:
    deltas, result = await collect(CLIRunner(settings), TaskRequest(prompt="hello", model="opus"))
    assert len(deltas) > 3
    assert "".join(deltas) == result.text
    assert expected_digest("hello") in result.text
    assert result.model == "claude-opus-4-1"
    assert result.usage.output_tokens == len(result.text.split(" "))
    assert result.usage.cost_usd > 0
    assert workdirs(settings) == []


async def test_300kb_prompt_arrives_intact(settings: Settings) -> None:
    prompt = ("0123456789abcdef" * 19200) + "end"  # 307 KB: over the 128 KiB argv limit
    result = await CLIRunner(settings).run(TaskRequest(prompt=prompt))
    assert expected_digest(prompt) in result.text
    assert result.usage.input_tokens >= len(prompt) // 4


async def test_shell_metacharacters_arrive_byte_for_byte(settings: Settings) -> None:
    prompt = "$(rm -rf /) `id` ; | && > /tmp/x < 'single' \"double\" \\ $HOME * ? ~ !! \n\t é ✓"
    result = await CLIRunner(settings).run(TaskRequest(prompt=prompt))
    assert expected_digest(prompt) in result.text


async def test_max_tokens_truncates_with_length(settings: Settings) -> None:
    deltas, result = await collect(
        CLIRunner(settings), TaskRequest(prompt="a b c d e f", max_tokens=4)
    )
    assert result.stop_reason == "length"
    assert result.usage.output_tokens == 4
    assert result.text == "".join(deltas) and len(result.text.split()) == 4


async def test_missing_binary(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo=False, claude_bin=str(tmp_path / "no-such-claude"))
    with pytest.raises(CLINotFoundError):
        await CLIRunner(settings).run(TaskRequest(prompt="x"))


async def test_non_zero_exit_with_redacted_stderr(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-SECRET123")
    with pytest.raises(CLIExitError) as caught:
        await CLIRunner(settings).run(TaskRequest(prompt="[[sim:exit=3]]"))
    assert caught.value.returncode == 3
    assert "simulated crash" in caught.value.detail
    assert "SECRET123" not in caught.value.detail and "[REDACTED]" in caught.value.detail
    assert workdirs(settings) == []


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("overloaded", UpstreamOverloadedError),
        ("rate_limit", UpstreamRateLimitError),
        ("auth", UpstreamAuthError),
        ("budget", CLIBudgetCapError),
        ("other", CLIResultError),
    ],
)
async def test_is_error_results(settings: Settings, kind: str, error: type) -> None:
    with pytest.raises(error) as caught:
        await CLIRunner(settings).run(TaskRequest(prompt=f"[[sim:error={kind}]]"))
    assert type(caught.value) is error


async def test_error_knob_from_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODE_SIM_ERROR", "overloaded")
    with pytest.raises(UpstreamOverloadedError):
        await CLIRunner(settings).run(TaskRequest(prompt="plain"))


async def test_malformed_output(settings: Settings) -> None:
    with pytest.raises(CLIOutputError, match="2 not JSON"):
        await CLIRunner(settings).run(TaskRequest(prompt="[[sim:malformed]]"))


async def test_missing_result_event(settings: Settings) -> None:
    with pytest.raises(CLIOutputError, match="without a final result"):
        await CLIRunner(settings).run(TaskRequest(prompt="[[sim:no_result]]"))


async def test_noise_lines_are_tolerated(settings: Settings) -> None:
    result = await CLIRunner(settings).run(TaskRequest(prompt="[[sim:noise]] hi"))
    assert "You said" in result.text


async def test_empty_result_falls_back_to_streamed_text(settings: Settings) -> None:
    result = await CLIRunner(settings).run(TaskRequest(prompt="[[sim:empty_result]] hi"))
    assert expected_digest("[[sim:empty_result]] hi") in result.text


async def test_oversized_output(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_output_bytes=4096)
    with pytest.raises(CLIOutputError, match="4096 bytes"):
        await CLIRunner(settings).run(TaskRequest(prompt="[[sim:big=20000]]"))
    assert workdirs(settings) == []


async def test_timeout_kills_process_group(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("CLAUDE_CODE_SIM_PIDFILE", str(pidfile))
    with pytest.raises(TaskTimeoutError):
        await CLIRunner(settings).run(
            TaskRequest(prompt="[[sim:spawn_child]] [[sim:hang]]"), timeout=8.0
        )  # long enough for a loaded machine to start the simulator and write its pids
    leader, child = map(int, pidfile.read_text().split())
    assert not alive(leader) and not alive(child)
    assert workdirs(settings) == []


async def test_closing_the_stream_early_kills_the_cli(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("CLAUDE_CODE_SIM_PIDFILE", str(pidfile))
    stream = CLIRunner(settings).stream(TaskRequest(prompt="[[sim:spawn_child]] [[sim:hang]]"))
    first = await stream.__anext__()
    assert isinstance(first, str)
    await stream.aclose()
    leader, child = map(int, pidfile.read_text().split())
    assert not alive(leader) and not alive(child)
    assert workdirs(settings) == []
    assert os.path.isdir(str(settings.workdir_root))


def test_workers_package_exports_are_complete() -> None:
    import claude_code_api.workers as workers

    for name in workers.__all__:
        assert getattr(workers, name) is not None
    with pytest.raises(AttributeError):
        workers.no_such_name  # noqa: B018


def test_seed_module_reexports_the_pool() -> None:
    from claude_code_api import worker_pool, workers

    assert worker_pool.WorkerPool is workers.WorkerPool
    assert worker_pool.SyncWorkerPool is workers.SyncWorkerPool


async def test_system_prompt_travels_in_a_private_file_not_argv(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    system = "SECRET-SYSTEM " + "s" * 300_000  # past the 128 KiB limit of one argv string
    seen: list[str] = []

    def spawned(proc: asyncio.subprocess.Process) -> None:
        seen.append(Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace"))

    runner = CLIRunner(settings)
    task = TaskRequest(prompt="hi", model="haiku", system_prompt=system)
    result = None
    async for item in runner.stream(task, on_spawn=spawned):
        if isinstance(item, CompletionResult):
            result = item
    assert result is not None
    assert result.usage.input_tokens >= len(system) // 4  # the simulated CLI read it all
    assert seen and "SECRET-SYSTEM" not in seen[0]
    assert "--system-prompt-file" in seen[0]
    assert not list((tmp_path / "work").glob("ccapi-task-*"))  # removed with the task
