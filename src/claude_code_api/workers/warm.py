"""Warm CLI processes: one ``claude`` process answers many chat tasks (``CCAPI_WARM_WORKERS``).

A cold ``claude -p`` start costs ~1.2 CPU-seconds. Started with ``--input-format stream-json``
the CLI answers one user message per stdin JSON line, prints one ``result`` event per message
and keeps running; the user message ``/clear`` empties its conversation without a model call.
Verified on the real CLI 2.1.197 against the fake upstream (DEVELOPERS.md): ~40 ms per warm
message instead of ~1 s, the request after ``/clear`` carries a single user message, the system
prompt, ``--tools ""`` and ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` stay as set at start.

:class:`WarmRunner` keeps idle processes keyed by everything fixed per process
(:class:`WarmKey`: model id, system prompt, ``max_tokens``, ``--bare``), runs one task at a time
per process and sends ``/clear`` after each task before the process may serve another one. Any
error, timeout, cancellation, truncation or failed ``/clear`` retires the process (its group is
killed and reaped, its working directory removed). Agent mode and prompts that start with
``/`` (the CLI would run them as slash commands, e.g. ``/cost`` shows the process's cumulative
cost) always run cold, through :class:`~claude_code_api.workers.runner.CLIRunner`.

Two CLI facts shape the code: ``total_cost_usd`` in a ``result`` is cumulative over the
process's life (the runner reports the difference per task), and the CLI prefixes the first
message after ``/clear`` with a short "local command caveat" (~80 input tokens more than cold).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, Mode, TaskRequest
from claude_code_api.errors import (
    CLIError,
    CLIExitError,
    CLINotFoundError,
    CLIOutputError,
    TaskTimeoutError,
)
from claude_code_api.pricing import PriceTable
from claude_code_api.workers.protocol import StreamParser, summarize_stderr
from claude_code_api.workers.runner import (
    CLIRunner,
    Runner,
    SpawnHook,
    _drain,
    _finish_drain,
    _uncancellable,
    _wait_exit,
    build_argv,
    build_env,
    model_id,
    read_output_line,
    system_prompt_of,
    terminate,
)
from claude_code_api.workers.tool_bridge import uses_tools

log = logging.getLogger(__name__)

CLEAR_TIMEOUT = 5.0  # seconds the CLI gets to answer /clear before the process is retired
IDLE_TTL = 300.0  # seconds an idle warm process is kept


@dataclass(frozen=True, slots=True)
class WarmKey:
    """Everything fixed for a CLI process's life: tasks share a process only if equal."""

    model: str
    system_prompt: str
    max_tokens: int | None
    bare: bool

    @classmethod
    def of(cls, settings: Settings, task: TaskRequest) -> WarmKey:
        """The key of the process that may run ``task``."""
        return cls(
            model=model_id(settings, task.model),
            system_prompt=system_prompt_of(settings, task),
            max_tokens=task.max_tokens,
            bare=settings.bare,
        )


def warm_eligible(task: TaskRequest) -> bool:
    """Chat-mode tasks without images or client tools whose prompt the CLI would not take as a
    slash command (tool runs need the MCP bridge, started with the process)."""
    return (
        task.mode is Mode.CHAT
        and not task.images
        and not uses_tools(task)
        and not task.prompt.lstrip().startswith("/")
    )


def user_line(text: str) -> bytes:
    """One user message in the CLI's ``--input-format stream-json``."""
    message = {"type": "user", "message": {"role": "user", "content": text}}
    return (json.dumps(message) + "\n").encode()


class _StaleProcessError(Exception):
    """A reused process ended before printing anything for its task: safe to retry."""


@dataclass(eq=False, slots=True)
class _Warm:
    key: WarmKey
    proc: asyncio.subprocess.Process
    workdir: str
    stderr: asyncio.Task[bytes]
    cost_seen: float = 0.0  # the CLI's cumulative total_cost_usd so far
    idle_since: float = 0.0
    tasks: int = 0


class WarmRunner:
    """Runs chat tasks on reused CLI processes, the rest cold. Satisfies :class:`Runner`.

    ``max_idle`` (default ``settings.max_workers``) caps the idle processes kept; ``idle_ttl``
    their idle age. Call :meth:`aclose` at shutdown (``WorkerPool.close`` does).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        prices: PriceTable | None = None,
        base_env: Mapping[str, str] | None = None,
        cold: Runner | None = None,
        max_idle: int | None = None,
        idle_ttl: float = IDLE_TTL,
    ) -> None:
        self.settings = settings
        self.prices = prices or PriceTable(settings.pricing)
        self.base_env = base_env
        self.cold: Runner = cold or CLIRunner(settings, prices=self.prices, base_env=base_env)
        self.max_idle = settings.max_workers if max_idle is None else max_idle
        self.idle_ttl = idle_ttl
        self.spawned = 0  # warm processes started
        self.reused = 0  # tasks served by an already-running process
        self._idle: list[_Warm] = []
        self._closed = False

    def idle_pids(self) -> list[int]:
        """Pids of the idle warm processes, oldest first."""
        return [w.proc.pid for w in self._idle]

    async def aclose(self) -> None:
        """Retire every idle process; busy ones are retired when their task ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            await _uncancellable(self._retire(worker))
        closer = getattr(self.cold, "aclose", None)  # the cold runner's suspended tool runs
        if closer is not None:
            await closer()

    async def stream(
        self, task: TaskRequest, *, timeout: float | None = None, on_spawn: SpawnHook | None = None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then exactly one :class:`CompletionResult` (same errors as CLIRunner).

        Raises:
            CLINotFoundError, CLIExitError, CLIOutputError, CLIResultError, TaskTimeoutError.
        """
        if self._closed or not warm_eligible(task):
            async with contextlib.aclosing(
                self.cold.stream(task, timeout=timeout, on_spawn=on_spawn)
            ) as items:
                async for item in items:
                    yield item
            return
        loop = asyncio.get_running_loop()
        seconds = timeout or task.timeout or self.settings.task_timeout
        deadline = loop.time() + seconds
        await self._evict_expired()
        key = WarmKey.of(self.settings, task)
        worker = await self._checkout(key)
        if worker is not None:
            self.reused += 1
            try:
                async with contextlib.aclosing(
                    self._serve(worker, task, deadline, seconds, on_spawn, reused=True)
                ) as items:
                    async for item in items:
                        yield item
                return
            except _StaleProcessError:  # died while idle, before printing anything: start afresh
                log.info(
                    "warm claude pid %d had died while idle; starting a new one", worker.proc.pid
                )
        worker = await self._spawn(key, task)
        async with contextlib.aclosing(
            self._serve(worker, task, deadline, seconds, on_spawn, reused=False)
        ) as items:
            async for item in items:
                yield item

    async def _serve(
        self,
        worker: _Warm,
        task: TaskRequest,
        deadline: float,
        seconds: float,
        on_spawn: SpawnHook | None,
        *,
        reused: bool,
    ) -> AsyncGenerator[str | CompletionResult, None]:
        worker.tasks += 1
        if on_spawn is not None:
            on_spawn(worker.proc)
        reusable = False
        try:
            parser = StreamParser(model=worker.key.model, prices=self.prices)
            exchange = self._exchange(worker, task.prompt, parser, deadline, seconds, reused)
            async for delta in exchange:
                yield delta
            event = parser.result_event
            if event is not None:
                self._settle_cost(worker, event)
            try:
                result = parser.finish()
            except CLIError as exc:
                exc.detail = exc.detail or summarize_stderr(await _finish_drain(worker.stderr))
                raise
            # Truncated: the CLI is making paid "continue" calls right now; stop it.
            reusable = not parser.truncated
            yield result
        finally:
            if reusable:
                await _uncancellable(self._recycle(worker))
            else:
                await _uncancellable(self._retire(worker))

    # --- one task on one process ------------------------------------------------------------
    async def _exchange(
        self,
        worker: _Warm,
        prompt: str,
        parser: StreamParser,
        deadline: float,
        seconds: float,
        reused: bool,
    ) -> AsyncGenerator[str, None]:
        proc = worker.proc
        limit = self.settings.max_output_bytes
        assert proc.stdin is not None and proc.stdout is not None
        try:
            async with asyncio.timeout_at(deadline):
                proc.stdin.write(user_line(prompt))
                await proc.stdin.drain()
        except TimeoutError:
            raise TaskTimeoutError(
                f"The CLI did not finish within {seconds:g}s and was killed."
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process died; reading its stdout and exit status tells why
        total = 0
        while True:
            line = await read_output_line(proc.stdout, deadline, seconds, limit)
            if not line:  # the process ended mid-task
                await _wait_exit(proc, deadline, asyncio.get_running_loop())
                if reused and parser.lines == 0:
                    raise _StaleProcessError  # nothing of this task happened: safe to retry
                if proc.returncode and parser.result_event is None and not parser.truncated:
                    raise CLIExitError(
                        f"The CLI exited with status {proc.returncode} without a result.",
                        returncode=proc.returncode,
                        detail=summarize_stderr(await _finish_drain(worker.stderr)),
                    )
                return
            total += len(line)
            if total > limit:
                raise CLIOutputError(f"The CLI's output exceeded {limit} bytes.")
            for delta in parser.feed(line):
                yield delta
            if parser.truncated or parser.result_event is not None:
                return

    @staticmethod
    def _settle_cost(worker: _Warm, event: dict[str, Any]) -> None:
        """Make the result's cumulative ``total_cost_usd`` this task's cost."""
        total = event.get("total_cost_usd")
        if isinstance(total, int | float) and not isinstance(total, bool):
            event["total_cost_usd"] = max(0.0, float(total) - worker.cost_seen)
            worker.cost_seen = float(total)

    # --- process lifecycle ------------------------------------------------------------------
    async def _spawn(self, key: WarmKey, task: TaskRequest) -> _Warm:
        root = self.settings.workdir_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="ccapi-warm-", dir=root)  # mode 0700
        system_file = Path(workdir) / "system-prompt.txt"
        system_file.write_text(key.system_prompt, encoding="utf-8")
        argv = build_argv(self.settings, task, system_prompt_file=system_file)
        argv[argv.index("-p") + 1 : argv.index("-p") + 1] = ["--input-format", "stream-json"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir,
                env=build_env(self.settings, task, self.base_env),
                start_new_session=True,
                limit=self.settings.max_output_bytes,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise CLINotFoundError(f"Cannot start the Claude CLI: {exc.strerror}") from exc
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self.spawned += 1
        return _Warm(key, proc, workdir, asyncio.create_task(_drain(proc.stderr)))

    async def _checkout(self, key: WarmKey) -> _Warm | None:
        for worker in list(reversed(self._idle)):  # newest first: keeps few processes hot
            if worker.key == key:
                self._idle.remove(worker)
                if worker.proc.returncode is None:
                    return worker
                await self._retire(worker)  # died while idle
        return None

    async def _evict_expired(self) -> None:
        now = time.monotonic()
        expired = [w for w in self._idle if now - w.idle_since > self.idle_ttl]
        for worker in expired:
            self._idle.remove(worker)
            await _uncancellable(self._retire(worker))

    async def _recycle(self, worker: _Warm) -> None:
        """``/clear`` the conversation and park the process, or retire it if anything is off."""
        if self._closed or not await self._clear(worker):
            await self._retire(worker)
            return
        worker.idle_since = time.monotonic()
        self._idle.append(worker)
        while len(self._idle) > self.max_idle:
            await self._retire(self._idle.pop(0))

    async def _clear(self, worker: _Warm) -> bool:
        proc = worker.proc
        assert proc.stdin is not None and proc.stdout is not None
        parser = StreamParser(model=worker.key.model, prices=self.prices)
        try:
            async with asyncio.timeout(CLEAR_TIMEOUT):
                proc.stdin.write(user_line("/clear"))
                await proc.stdin.drain()
                while parser.result_event is None:
                    line = await proc.stdout.readline()
                    if not line:
                        return False
                    parser.feed(line)
        except (TimeoutError, ValueError, OSError, asyncio.LimitOverrunError):
            return False
        event = parser.result_event
        if event.get("is_error") or event.get("result"):
            log.warning("claude pid %d did not clear its conversation; retiring it", proc.pid)
            return False
        self._settle_cost(worker, event)
        return True

    async def _retire(self, worker: _Warm) -> None:
        proc = worker.proc
        await terminate(proc)
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.stdout is not None:
            # Reach EOF so asyncio closes the pipe transports now, not in a __del__ later.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.stdout.read(), 1.0)
        if not worker.stderr.done():
            worker.stderr.cancel()
        with contextlib.suppress(BaseException):
            await worker.stderr
        shutil.rmtree(worker.workdir, ignore_errors=True)
