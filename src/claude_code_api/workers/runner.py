"""Runs one ``claude -p`` call: argv, environment, working directory, process lifecycle.

Every call:

- is started with ``create_subprocess_exec`` (never a shell) in its own session/process group,
  with the prompt on **stdin** (argv is capped at 128 KiB and visible in ``ps``);
- runs in a fresh temporary working directory that is removed afterwards;
- sees only an allow-listed environment (:func:`build_env`), ``CLAUDECODE`` never;
- reads ``--output-format stream-json --verbose --include-partial-messages`` line by line,
  bounded per line and in total;
- ends with the process group killed (SIGTERM, a short grace, SIGKILL) and the process reaped,
  whether it finished, failed, timed out or its consumer went away.

A task with earlier turns (:attr:`TaskRequest.history`) resumes a CLI session rebuilt from them
(:mod:`~claude_code_api.workers.session_file`, ``--resume``): the turns reach the model as
real messages, and only the new user message goes on stdin.

A task with client tools runs with the MCP bridge (:mod:`~claude_code_api.workers.tool_bridge`)
and may end its turn *suspended* on the model's tool calls: the process is then kept in
:attr:`CLIRunner.suspended` instead of being killed, until a task carrying the results resumes
it (:mod:`~claude_code_api.workers.suspended`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, Mode, TaskRequest
from claude_code_api.errors import (
    CLIError,
    CLIExitError,
    CLINotFoundError,
    CLIOutputError,
    TaskTimeoutError,
)
from claude_code_api.pricing import PriceTable, resolve_model
from claude_code_api.workers import orphans
from claude_code_api.workers.protocol import StreamParser, summarize_stderr
from claude_code_api.workers.session_file import write_session
from claude_code_api.workers.suspended import SuspendedRuns, ToolRun
from claude_code_api.workers.tool_bridge import Bridge, system_addendum, uses_tools

log = logging.getLogger(__name__)

#: Exact names always passed to the CLI.
ENV_NAMES = frozenset({"HOME", "PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME"})
#: Name patterns always passed: the CLI's own settings and upstream credentials.
ENV_PATTERNS = ("ANTHROPIC_*", "CLAUDE_CODE_*", "LC_*")
#: Never passed, even when allow-listed: an inherited CLAUDECODE makes calls hang.
ENV_DENIED = frozenset({"CLAUDECODE"})

TERM_GRACE = 0.5  # seconds between SIGTERM and SIGKILL
EXIT_GRACE = 5.0  # seconds to wait for the CLI to exit after its final result
STDERR_LIMIT = 64 * 1024

SpawnHook = Callable[[asyncio.subprocess.Process], None]


class Runner(Protocol):
    """What the pool needs from a runner (a seam for tests and alternative transports)."""

    def stream(
        self, task: TaskRequest, *, timeout: float | None = None, on_spawn: SpawnHook | None = None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then exactly one :class:`CompletionResult`."""
        ...


def env_allowed(name: str, extra: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether an environment variable may reach the CLI."""
    if name in ENV_DENIED:
        return False
    if name in ENV_NAMES:
        return True
    patterns = (*ENV_PATTERNS, *extra)
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def build_env(
    settings: Settings, task: TaskRequest, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The CLI's environment: allow-listed variables of ``base`` plus per-task settings.

    ``settings.env_allowlist`` adds exact names or ``PREFIX_*`` patterns (cloud credentials).
    ``task.max_tokens`` becomes ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` (the CLI's upstream
    ``max_tokens``, verified with the fake upstream). ``task.thinking_budget`` becomes
    ``MAX_THINKING_TOKENS``: ``0`` makes the CLI send ``thinking: {"type": "disabled"}`` to every
    model, ``N`` a haiku budget of N (sonnet and opus stay adaptive); verified on CLI 2.1.197.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if env_allowed(k, tuple(settings.env_allowlist))}
    if task.max_tokens is not None:
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(task.max_tokens)
    if task.thinking_budget is not None:
        env["MAX_THINKING_TOKENS"] = str(task.thinking_budget)
    else:
        env.pop("MAX_THINKING_TOKENS", None)  # the CLI's default, not the server's environment
    env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    env.update(retry_bounds(settings, task, env))
    return env


def retry_bounds(settings: Settings, task: TaskRequest, env: Mapping[str, str]) -> dict[str, str]:
    """``CLAUDE_CODE_MAX_RETRIES`` and ``API_TIMEOUT_MS`` that end the CLI's retries in time.

    The CLI retries 429/529/5xx up to 10 times with exponential backoff (0.5 s doubling, up to
    ~60 s in all), far past a 30 s task timeout, so an overloaded upstream used to end in a
    504 that the SDKs retried again. Here the retries are at most ``settings.cli_max_retries``
    (a lower value in the environment wins) and each upstream request may take at most its
    share of the task timeout, so the CLI reports the upstream error (a 503) before the task
    times out.
    """
    timeout = task.timeout or settings.task_timeout
    retries = settings.cli_max_retries
    configured = env.get("CLAUDE_CODE_MAX_RETRIES", "")
    if configured.isdigit():
        retries = min(retries, int(configured))
    backoff = sum(0.5 * 2**attempt * 1.25 for attempt in range(retries))  # with jitter
    share = max(1.0, (timeout * 0.9 - backoff) / (retries + 1))
    return {"CLAUDE_CODE_MAX_RETRIES": str(retries), "API_TIMEOUT_MS": str(int(share * 1000))}


def model_id(settings: Settings, model: str) -> str:
    """The ``--model`` value: :func:`~claude_code_api.pricing.resolve_model` with the
    ``CCAPI_TIER_MODELS`` pins."""
    return resolve_model(model, settings.tier_models)


def system_prompt_of(settings: Settings, task: TaskRequest) -> str:
    """A chat-mode task's system prompt: its own, else ``CCAPI_DEFAULT_SYSTEM_PROMPT``."""
    return task.system_prompt if task.system_prompt is not None else settings.default_system_prompt


def cli_command(settings: Settings) -> list[str]:
    """The executable part of the argv: the real CLI, or the simulated one in demo mode.

    Raises:
        CLINotFoundError: the configured binary is not on ``PATH`` / not executable.
    """
    if settings.demo:
        sim = Path(sys.executable).with_name("claude-sim")
        if sim.exists():
            return [str(sim)]
        return [sys.executable, "-m", "claude_code_api.workers.simulated_cli"]
    found = shutil.which(settings.claude_bin)
    if found is None:
        raise CLINotFoundError(
            f"Claude CLI {settings.claude_bin!r} not found or not executable "
            "(install @anthropic-ai/claude-code or set CCAPI_CLAUDE_BIN)."
        )
    return [found]


def system_prompt(settings: Settings, task: TaskRequest) -> str:
    """The chat-mode system prompt: the request's (or the default), plus what it must say
    about the client tools offered, if any."""
    system = system_prompt_of(settings, task)
    if uses_tools(task):
        system = f"{system}\n\n{system_addendum(task)}" if system else system_addendum(task)
    return system


def build_argv(
    settings: Settings,
    task: TaskRequest,
    *,
    system_prompt_file: Path | None = None,
    extra: list[str] | None = None,
    resume: str | None = None,
) -> list[str]:
    """The full argv (no prompt: it goes on stdin).

    ``resume`` is the id of a session file written for the task's history
    (:func:`~claude_code_api.workers.session_file.write_session`).

    With ``system_prompt_file`` (the runner writes it into the task's private working
    directory) the system prompt travels as ``--system-prompt-file``: like the prompt on stdin,
    it is then neither visible in ``ps`` nor capped by the 128 KiB limit of one argv string.
    """
    argv = [
        *cli_command(settings),
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--model",
        model_id(settings, task.model),
    ]
    if task.images:
        argv += ["--input-format", "stream-json"]  # see stdin_payload
    if task.effort is not None:
        argv += ["--effort", task.effort]  # upstream output_config.effort (sonnet/opus)
    if resume is not None:
        argv += ["--resume", resume]
    if task.mode is Mode.AGENT:
        if task.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{task.max_budget_usd:.6f}"]
        return argv
    if system_prompt_file is not None:
        argv += ["--tools", "", "--system-prompt-file", str(system_prompt_file)]
    else:
        argv += ["--tools", "", "--system-prompt", system_prompt(settings, task)]
    argv += extra or []  # the MCP bridge's flags for client tools
    argv.append("--no-session-persistence")
    if settings.bare:
        argv.append("--bare")
    return argv


def stdin_payload(task: TaskRequest) -> bytes:
    """What the CLI reads on stdin: the prompt, or with images one stream-json user message
    whose content is the prompt's text followed by the image blocks (the CLI passes them to the
    Messages API as they are; verified on the real CLI 2.1.197)."""
    if not task.images:
        return task.prompt.encode()
    content: list[dict[str, Any]] = [{"type": "text", "text": task.prompt}]
    content += [{"type": "image", "source": source} for source in task.images]
    message = {"type": "user", "message": {"role": "user", "content": content}}
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def terminate(proc: asyncio.subprocess.Process, grace: float = TERM_GRACE) -> None:
    """SIGTERM the group, SIGKILL it after ``grace``, and reap the leader."""
    if proc.returncode is None:
        kill_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    kill_group(proc.pid, signal.SIGKILL)  # also takes down children that outlived the leader
    await proc.wait()


class CLIRunner:
    """Runs tasks with the configured (or simulated) CLI. Satisfies :class:`Runner`."""

    def __init__(
        self,
        settings: Settings,
        *,
        prices: PriceTable | None = None,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.prices = prices or PriceTable(settings.pricing)
        self.base_env = base_env
        #: Runs parked on client tool calls (their own cap and timeout, no worker slot).
        self.suspended = SuspendedRuns(
            max_runs=settings.max_suspended_runs, ttl=settings.tool_call_timeout
        )

    async def aclose(self) -> None:
        """End every suspended run (the pool calls this on close)."""
        await self.suspended.aclose()

    async def run(self, task: TaskRequest, *, timeout: float | None = None) -> CompletionResult:
        """Run a task to completion and return its result."""
        result: CompletionResult | None = None
        async for item in self.stream(task, timeout=timeout):
            if isinstance(item, CompletionResult):
                result = item
        assert result is not None  # stream() always ends with a result or raises
        return result

    async def stream(
        self, task: TaskRequest, *, timeout: float | None = None, on_spawn: SpawnHook | None = None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas as the CLI streams them, then exactly one :class:`CompletionResult`.

        Closing the iterator early (or cancelling its consumer) kills the CLI's process group.

        Raises:
            CLINotFoundError, CLIExitError, CLIOutputError, CLIResultError, TaskTimeoutError.
        """
        if uses_tools(task) and task.mode is Mode.CHAT:
            async with contextlib.aclosing(self._tool_stream(task, timeout, on_spawn)) as items:
                async for item in items:
                    yield item
            return
        env = build_env(self.settings, task, self.base_env)
        limit = self.settings.max_output_bytes
        loop = asyncio.get_running_loop()
        seconds = timeout or task.timeout or self.settings.task_timeout
        deadline = loop.time() + seconds
        root = self.settings.workdir_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="ccapi-task-", dir=root)  # mode 0700
        orphans.mark_owner(workdir)
        system_file = Path(workdir) / "system-prompt.txt"
        system_file.write_text(system_prompt(self.settings, task), encoding="utf-8")
        proc: asyncio.subprocess.Process | None = None
        stdin_task: asyncio.Task[None] | None = None
        stderr_task: asyncio.Task[bytes] | None = None
        sessions: Path | None = None
        try:
            resume = None
            if task.history:
                resume, sessions = write_session(task.history, env=env, cwd=workdir)
                orphans.mark_sessions(workdir, sessions)
            argv = build_argv(self.settings, task, system_prompt_file=system_file, resume=resume)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=workdir,
                    env=env,
                    start_new_session=True,
                    preexec_fn=orphans.die_with_parent,  # one C call in the child: see orphans
                    limit=limit,
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
                raise CLINotFoundError(f"Cannot start the Claude CLI: {exc.strerror}") from exc
            orphans.mark_group(workdir, proc.pid)
            if on_spawn is not None:
                on_spawn(proc)
            stdin_task = asyncio.create_task(_feed_stdin(proc, stdin_payload(task)))
            stderr_task = asyncio.create_task(_drain(proc.stderr))
            parser = StreamParser(model=model_id(self.settings, task.model), prices=self.prices)
            total = 0
            assert proc.stdout is not None
            while True:
                line = await read_output_line(proc.stdout, deadline, seconds, limit)
                if not line:
                    break
                total += len(line)
                if total > limit:
                    raise CLIOutputError(f"The CLI's output exceeded {limit} bytes.")
                for delta in parser.feed(line):
                    yield delta
                if parser.truncated:
                    break  # max_tokens reached: stop the CLI's paid continuation calls
                if parser.result_event is not None:
                    break
            if not parser.truncated:  # truncated: the cleanup below stops the CLI at once
                await wait_exit(proc, deadline)
            if parser.result_event is None and not parser.truncated and proc.returncode:
                stderr = await _finish_drain(stderr_task)
                raise CLIExitError(
                    f"The CLI exited with status {proc.returncode} without a result.",
                    returncode=proc.returncode,
                    detail=summarize_stderr(stderr),
                )
            try:
                result = parser.finish()
            except CLIError as exc:
                exc.detail = exc.detail or summarize_stderr(await _finish_drain(stderr_task))
                raise
            yield result
        finally:
            if proc is not None:
                await _uncancellable(_cleanup(proc, stdin_task, stderr_task))
            shutil.rmtree(workdir, ignore_errors=True)
            if sessions is not None:
                shutil.rmtree(sessions, ignore_errors=True)

    async def _tool_stream(
        self, task: TaskRequest, timeout: float | None, on_spawn: SpawnHook | None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """A turn of a tool run: a suspended one resumed with ``task.tool_results``, or a new
        one (also when the suspended run is gone: ``task.prompt`` then holds the rebuilt
        conversation)."""
        loop = asyncio.get_running_loop()
        seconds = timeout or task.timeout or self.settings.task_timeout
        deadline = loop.time() + seconds
        run = None
        if task.tool_results:
            ids = [r.tool_call_id for r in task.tool_results]
            run = self.suspended.claim(task.project_id, ids)
            if run is not None:
                run.resume(task.tool_results)
        if run is None:
            run = await self._start_tool_run(task)
        if on_spawn is not None:
            on_spawn(run.proc)
        parked = finished = False
        try:
            async for item in run.turn(deadline, seconds):
                if isinstance(item, CompletionResult) and item.suspended:
                    # Calls with bad arguments are reported, not waited for: end the run.
                    valid = not any(c.error for c in item.tool_calls)
                    item.suspended = parked = valid and self.suspended.add(run)
                yield item
            finished = True
        except CLIError as exc:
            exc.detail = exc.detail or summarize_stderr(await _finish_drain(run.tasks[1]))
            raise
        finally:
            if parked and not finished:  # the consumer left at the suspended result
                self.suspended.discard(run)
            if not (parked and finished):
                await _uncancellable(run.close())

    async def _start_tool_run(self, task: TaskRequest) -> ToolRun:
        root = self.settings.workdir_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="ccapi-task-", dir=root)  # mode 0700
        env = tool_env(build_env(self.settings, task, self.base_env))
        resume, sessions = None, ""
        try:
            if task.history:
                resume, directory = write_session(task.history, env=env, cwd=workdir)
                sessions = str(directory)
                orphans.mark_sessions(workdir, directory)
            system_file = Path(workdir) / "system-prompt.txt"
            system_file.write_text(system_prompt(self.settings, task), encoding="utf-8")
            bridge = Bridge(task, Path(workdir))
            await bridge.start()
        except BaseException:
            remove_workdir(workdir)
            if sessions:
                remove_workdir(sessions)
            raise
        argv = build_argv(
            self.settings,
            task,
            system_prompt_file=system_file,
            extra=bridge.argv(),
            resume=resume,
        )
        limit = self.settings.max_output_bytes
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir,
                env=env,
                start_new_session=True,
                limit=limit,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            await bridge.close()
            remove_workdir(workdir)
            if sessions:
                remove_workdir(sessions)
            raise CLINotFoundError(f"Cannot start the Claude CLI: {exc.strerror}") from exc
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(_feed_stdin(proc, stdin_payload(task))),
            asyncio.create_task(_drain(proc.stderr)),
        ]
        parser = StreamParser(model=model_id(self.settings, task.model), prices=self.prices)
        return ToolRun(
            task=task,
            proc=proc,
            bridge=bridge,
            parser=parser,
            limit=limit,
            workdir=workdir,
            sessions=sessions,
            tasks=tasks,
        )


def tool_env(env: dict[str, str]) -> dict[str, str]:
    """A tool run's environment. The real CLI (2.1.197) connects MCP servers *non-blocking* by
    default: a bridge not ready within a moment (a loaded machine) is left "pending" and the
    first request goes upstream without the tools. ``MCP_CONNECTION_NONBLOCKING=0`` makes it
    wait for the handshake (verified with a bridge delayed by 4 s)."""
    return {**env, "MCP_CONNECTION_NONBLOCKING": "0"}


def remove_workdir(path: str) -> None:
    """Remove a task's working directory (whatever is left in it)."""
    shutil.rmtree(path, ignore_errors=True)


async def cleanup_process(proc: asyncio.subprocess.Process, tasks: list[asyncio.Task[Any]]) -> None:
    """Kill and reap a CLI process group and end its stdin/stderr helper tasks."""
    stdin_task = tasks[0] if tasks else None
    stderr_task = tasks[1] if len(tasks) > 1 else None
    await _cleanup(proc, stdin_task, stderr_task)


async def read_output_line(
    stdout: asyncio.StreamReader, deadline: float, seconds: float, limit: int
) -> bytes:
    """One line of CLI output by ``deadline``, as the runners' typed errors on failure.

    Raises:
        TaskTimeoutError: the deadline passed (the caller kills the process group).
        CLIOutputError: a single line longer than the stream's ``limit``.
    """
    try:
        async with asyncio.timeout_at(deadline):
            return await stdout.readline()
    except TimeoutError:
        raise TaskTimeoutError(
            f"The CLI did not finish within {seconds:g}s and was killed."
        ) from None
    except (ValueError, asyncio.LimitOverrunError) as exc:
        raise CLIOutputError(f"A CLI output line exceeded {limit} bytes.") from exc


async def wait_exit(proc: asyncio.subprocess.Process, deadline: float) -> None:
    """Give the CLI a bounded time to exit after its final result."""
    await _wait_exit(proc, deadline, asyncio.get_running_loop())


async def _wait_exit(
    proc: asyncio.subprocess.Process, deadline: float, loop: asyncio.AbstractEventLoop
) -> None:
    try:
        await asyncio.wait_for(proc.wait(), max(0.1, min(EXIT_GRACE, deadline - loop.time())))
    except TimeoutError:
        log.warning("claude pid %d closed stdout but did not exit; killing it", proc.pid)


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()
        await proc.stdin.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the CLI exited before reading everything; its exit status tells why


async def _drain(stream: asyncio.StreamReader | None) -> bytes:
    """Read a stream to EOF, keeping only its last ``STDERR_LIMIT`` bytes."""
    if stream is None:
        return b""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-STDERR_LIMIT:]
    return kept


async def _finish_drain(task: asyncio.Task[bytes] | None) -> bytes:
    if task is None:
        return b""
    try:
        return await asyncio.wait_for(asyncio.shield(task), 1.0)
    except TimeoutError:
        return b""


async def _uncancellable(coro: Coroutine[Any, Any, None]) -> None:
    """Run a short, bounded cleanup to the end even if we are cancelled (again) meanwhile;
    the cancellation is re-raised afterwards. A bare shield() would leave it orphaned."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def _cleanup(
    proc: asyncio.subprocess.Process,
    stdin_task: asyncio.Task[None] | None,
    stderr_task: asyncio.Task[bytes] | None,
) -> None:
    await terminate(proc)
    if proc.stdout is not None:
        # Reach EOF so asyncio closes the pipe transports now, not in a __del__ later.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.stdout.read(), 1.0)
    for task in (stdin_task, stderr_task):
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(BaseException):
                await task
