"""Warm CLI processes: one ``claude`` process answers many chat tasks (on by default).

A cold ``claude -p`` start costs ~1.2 CPU-seconds. Started with ``--input-format stream-json``
the CLI answers one user message per stdin JSON line, prints one ``result`` event per message
and keeps running; the user message ``/clear`` empties its conversation without a model call.
Verified on the real CLI 2.1.197 against the fake upstream (DEVELOPERS.md): ~30 ms per warm
message instead of ~0.5-1 s.

What a process is bound to for its whole life (:class:`WarmKey`): the **project**, the system
prompt and ``--bare``. A process starts without a system prompt; the first ``initialize``
control request gives it one, and nothing can change it later (verified: a second
``initialize``, an agent switch or a rewritten prompt file leave it as it was). A process never
serves another project, so no state of one project's task can reach another's. What is set per
task, on the CLI's stream-json control channel (the Agent SDK's), without a model call:

- ``max_tokens``: ``apply_flag_settings {"env": {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "N"}}``; the
  next upstream request carries exactly ``max_tokens: N`` (``""`` restores the CLI's default),
  and it adds nothing to the conversation;
- the model: ``set_model``. It leaves a "/model" local-command message in the conversation, so a
  switch is followed by one more ``/clear`` (the request after it has a single user message).

After each task the runner sends ``/clear`` before the process may serve another task. Any
error, timeout, cancellation, truncation or failed ``/clear``/control request retires the
process (its group is killed and reaped, its working directory removed). Agent mode, images and
prompts that start with ``/`` (the CLI would run them as slash commands) always run cold.

Capacity: at most ``warm_max_processes`` warm processes and ``warm_max_memory_mb`` of their
RSS (~200-240 MB each). ``warm_spares`` unbound processes are kept started (in the background,
one at a time: a cold start is ~1 CPU-second on a shared machine); a task of any key that finds
no idle process of its own takes one and binds it. A task whose key's processes are all busy
waits for one when that is likely sooner than a start. When a task needs a process and the caps
are reached, the idle process whose loss costs least is retired (one whose key has another
process, then the least recently used); if every process is busy the task runs cold.

Two CLI facts shape the code: ``total_cost_usd`` in a ``result`` is cumulative over the
process's life (the runner reports the difference per task), and the CLI prefixes the first
message after ``/clear`` with a "local command caveat" (4 text blocks, ~460 characters, about
100 input tokens more than cold, measured in bench/worker_pool.py). Those tokens are billed
upstream, so they stay in the task's usage and cost, as the upstream reports them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field, replace
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
from claude_code_api.workers import orphans
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

CLEAR_TIMEOUT = 15.0  # seconds the CLI gets to answer /clear or a control request (a busy
# machine can take seconds; retiring the process then would only add a cold start)
START_TIMEOUT = 60.0  # seconds a new process gets to answer its initialize handshake
IDLE_TTL = 300.0  # seconds an idle warm process (and a key's demand) is kept
RSS_ESTIMATE_MB = 190.0  # a warm claude 2.1.197 process, used until one has been measured
MAX_TOKENS_ENV = "CLAUDE_CODE_MAX_OUTPUT_TOKENS"


@dataclass(frozen=True, slots=True)
class WarmKey:
    """Everything fixed for a CLI process's life: tasks share a process only if equal."""

    project_id: str
    system_prompt: str
    bare: bool
    thinking_budget: int | None = 0  # MAX_THINKING_TOKENS and --effort are fixed at spawn
    effort: str | None = None

    @classmethod
    def of(cls, settings: Settings, task: TaskRequest) -> WarmKey:
        """The key of the processes that may run ``task``."""
        return cls(
            project_id=task.project_id,
            system_prompt=system_prompt_of(settings, task),
            bare=settings.bare,
            thinking_budget=task.thinking_budget,
            effort=task.effort,
        )


def warm_eligible(task: TaskRequest) -> bool:
    """Chat-mode tasks without images, client tools or earlier turns whose prompt the CLI
    would not take as a slash command (tool runs need the MCP bridge, started with the
    process; earlier turns need a session file loaded at start, ``--resume``)."""
    return (
        task.mode is Mode.CHAT
        and not task.history
        and not task.images
        and not uses_tools(task)
        and not task.prompt.lstrip().startswith("/")
    )


def user_line(text: str) -> bytes:
    """One user message in the CLI's ``--input-format stream-json``."""
    message = {"type": "user", "message": {"role": "user", "content": text}}
    return (json.dumps(message) + "\n").encode()


def control_line(request_id: str, request: dict[str, Any]) -> bytes:
    """One control request (the Agent SDK's stream-json control channel)."""
    line = {"type": "control_request", "request_id": request_id, "request": request}
    return (json.dumps(line) + "\n").encode()


class _StaleProcessError(Exception):
    """A reused process ended before printing anything for its task: safe to retry."""


@dataclass(eq=False, slots=True)
class _Warm:
    key: WarmKey | None  # None: a spare not yet bound to a project and system prompt
    proc: asyncio.subprocess.Process
    workdir: str
    stderr: asyncio.Task[bytes]
    model: str  # the --model / set_model value now in effect
    max_tokens: int | None  # CLAUDE_CODE_MAX_OUTPUT_TOKENS now in effect
    cost_seen: float = 0.0  # the CLI's cumulative total_cost_usd so far
    idle_since: float = 0.0
    tasks: int = 0
    rss_mb: float = 0.0
    task_started: float = 0.0


@dataclass(slots=True)
class _Demand:
    """Recent use of one key."""

    busy: int = 0  # tasks of this key running or waiting for a process
    last_used: float = 0.0
    #: Resolved when a finished task's process has been cleared and parked.
    clearing: list[asyncio.Future[None]] = field(default_factory=list)
    #: Tasks waiting for a busy process of this key (resolved one at a time as they free up).
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    task_seconds: float = 0.1  # moving average of this key's task durations


class WarmRunner:
    """Runs chat tasks on reused CLI processes, the rest cold. Satisfies :class:`Runner`.

    ``max_processes`` / ``max_memory_mb`` / ``spares`` default to the ``warm_*`` settings;
    ``idle_ttl`` is the idle age after which a process is retired. Call :meth:`aclose` at
    shutdown (``WorkerPool.close`` does).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        prices: PriceTable | None = None,
        base_env: Mapping[str, str] | None = None,
        cold: Runner | None = None,
        max_processes: int | None = None,
        max_memory_mb: float | None = None,
        spares: int | None = None,
        idle_ttl: float = IDLE_TTL,
    ) -> None:
        self.settings = settings
        self.prices = prices or PriceTable(settings.pricing)
        self.base_env = base_env
        self.cold: Runner = cold or CLIRunner(settings, prices=self.prices, base_env=base_env)
        self.max_processes = max_processes or settings.warm_max_processes
        self.max_memory_mb = max_memory_mb or settings.warm_max_memory_mb
        self.spares = settings.warm_spares if spares is None else spares
        self.idle_ttl = idle_ttl
        self.spawned = 0  # warm processes started
        self.reused = 0  # tasks served by an already-running process
        self.hits = 0  # warm-eligible tasks that found a ready process
        self.misses = 0  # warm-eligible tasks that waited for a process to start
        self.cold_runs = 0  # tasks run cold (not eligible, closed, or no capacity)
        self.switches = 0  # model switches (set_model + /clear) on a reused process
        self._idle: list[_Warm] = []
        self._busy: set[_Warm] = set()
        self._spares: list[_Warm] = []  # started, answering, not yet bound to a key
        self._spares_starting: list[asyncio.Future[None]] = []
        self._template = TaskRequest(prompt="", model="sonnet")  # model / max_tokens for spares
        self._last_task = time.monotonic()
        self._demand: dict[WarmKey, _Demand] = {}
        self._starting = 0  # processes being started (foreground and background)
        self._refill_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._recycling: set[asyncio.Future[None]] = set()
        self._start_seconds = 1.0  # moving average of a process start (spawn + handshake)
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    # --- introspection ----------------------------------------------------------------------
    def idle_pids(self) -> list[int]:
        """Pids of the idle warm processes, oldest first."""
        return [w.proc.pid for w in self._idle]

    def process_count(self) -> int:
        """Warm processes alive or being started (idle, spare, busy and starting)."""
        return len(self._idle) + len(self._spares) + len(self._busy) + self._starting

    def stats(self) -> dict[str, float]:
        """Counters and gauges for ``/metrics`` (``hit_ratio`` over warm-eligible tasks)."""
        eligible = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "cold_runs": self.cold_runs,
            "hit_ratio": self.hits / eligible if eligible else 0.0,
            "spawned": self.spawned,
            "switches": self.switches,
            "processes": self.process_count(),
            "idle": len(self._idle),
            "spares": len(self._spares),
            "busy": len(self._busy),
            "starting": self._starting,
            "rss_mb": round(sum(w.rss_mb for w in self._alive()), 1),
            "max_processes": self.max_processes,
            "max_memory_mb": self.max_memory_mb,
        }

    async def quiesce(self) -> None:
        """Wait until background work (clears after tasks, spares starting) has finished."""
        while pending := [
            *self._recycling,
            *(t for t in self._background if t is not self._reaper),
        ]:
            await asyncio.wait(pending)

    async def aclose(self) -> None:
        """Retire every idle process; busy ones are retired when their task ends."""
        self._closed = True
        if self._recycling:  # bounded by CLEAR_TIMEOUT; cancelled unstarted they would leak
            await asyncio.wait(list(self._recycling))
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        idle, self._idle, spares, self._spares = self._idle, [], self._spares, []
        for worker in [*idle, *spares]:
            await _uncancellable(self._retire(worker))
        closer = getattr(self.cold, "aclose", None)  # the cold runner's suspended tool runs
        if closer is not None:
            await closer()

    # --- running a task ---------------------------------------------------------------------
    async def stream(
        self, task: TaskRequest, *, timeout: float | None = None, on_spawn: SpawnHook | None = None
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then exactly one :class:`CompletionResult` (same errors as CLIRunner).

        Raises:
            CLINotFoundError, CLIExitError, CLIOutputError, CLIResultError, TaskTimeoutError.
        """
        worker: _Warm | None = None
        reused = False
        if not self._closed and warm_eligible(task):
            key = WarmKey.of(self.settings, task)
            self._note_demand(key)
            # Spares take the last task's model and max_tokens, never its thinking settings
            # (fixed at spawn): a spare serves only keys with the chat default, no thinking.
            self._template = replace(
                task, prompt="", timeout=None, images=[], thinking_budget=0, effort=None
            )
            self._ensure_reaper()
            try:
                worker, reused = await self._acquire(key, task)
            except BaseException:
                self._demand[key].busy -= 1
                raise
            if worker is None:
                self._demand[key].busy -= 1
        if worker is None:
            self.cold_runs += 1
            async with contextlib.aclosing(
                self.cold.stream(task, timeout=timeout, on_spawn=on_spawn)
            ) as items:
                async for item in items:
                    yield item
            return
        loop = asyncio.get_running_loop()
        seconds = timeout or task.timeout or self.settings.task_timeout
        deadline = loop.time() + seconds
        try:
            if reused:
                try:
                    async with contextlib.aclosing(
                        self._serve(worker, task, deadline, seconds, on_spawn, reused=True)
                    ) as items:
                        async for item in items:
                            yield item
                    return
                except _StaleProcessError:  # died while idle, before printing anything
                    log.info("warm claude pid %d had died while idle; starting a new one",
                             worker.proc.pid)  # fmt: skip
                worker = await self._start(key, task)
                self._busy.add(worker)
            async with contextlib.aclosing(
                self._serve(worker, task, deadline, seconds, on_spawn, reused=False)
            ) as items:
                async for item in items:
                    yield item
        finally:
            if (current := self._demand.get(key)) is not None:
                current.busy -= 1
                current.last_used = time.monotonic()

    def _note_demand(self, key: WarmKey) -> _Demand:
        now = self._last_task = time.monotonic()
        demand = self._demand.setdefault(key, _Demand())
        demand.busy += 1
        demand.last_used = now
        return demand

    async def _acquire(self, key: WarmKey, task: TaskRequest) -> tuple[_Warm | None, bool]:
        """A configured process for ``task`` and whether it was already running; or
        ``(None, False)`` when the caps leave no room (the task then runs cold).

        In order: an idle process of the key; one of the key's being cleared; a spare (bound to
        the key now); a busy one of the key that will likely be free before a start (asked
        before the spare when near the caps); a spare that is starting; a new process.
        """
        self._evict_expired()
        want_model = model_id(self.settings, task.model)
        # Thinking settings are fixed at spawn (env and argv): only a key with the spares'
        # settings may take one.
        spare_fits = (key.thinking_budget, key.effort) == (
            self._template.thinking_budget,
            self._template.effort,
        )
        cold_wait = False
        try:
            while True:
                worker = self._take_idle(key, want_model)
                demand = self._demand[key]
                if worker is None and demand.clearing:  # ready in a few ms
                    await asyncio.shield(demand.clearing.pop(0))
                    continue
                # Near the caps a spare taken for a key that already has a (busy) process
                # would soon force another key's process out: wait for this key's own first.
                near_cap = worker is None and not self._room(extra=2)
                if near_cap and await self._wait_for_busy(key, demand):
                    continue
                if (
                    worker is None
                    and spare_fits
                    and (worker := self._take_spare()) is not None
                    and not await self._bind(worker, key, timeout=CLEAR_TIMEOUT)
                ):
                    await self._drop(worker)
                    continue
                if worker is not None:
                    if await self._configure(worker, want_model, task.max_tokens):
                        if cold_wait:
                            self.misses += 1
                        else:
                            self.hits += 1
                        self.reused += 1
                        return worker, True
                    await self._drop(worker)
                    continue
                if not near_cap and await self._wait_for_busy(key, demand):
                    continue
                if spare_fits and self._spares_starting:  # sooner than starting another one
                    cold_wait = True
                    await asyncio.shield(self._spares_starting.pop(0))
                else:
                    break
            if not self._make_room():
                return None, False
            self.misses += 1
            worker = await self._start(key, task)
            self._busy.add(worker)
            return worker, False
        finally:
            self._spawn_refill()

    async def _drop(self, worker: _Warm) -> None:
        self._busy.discard(worker)
        await _uncancellable(self._retire(worker))

    def _take_spare(self) -> _Warm | None:
        while self._spares:
            worker = self._spares.pop()  # newest first
            if worker.proc.returncode is None:
                self._busy.add(worker)
                return worker
            self._in_background(self._retire(worker))
        return None

    async def _bind(self, worker: _Warm, key: WarmKey, *, timeout: float) -> bool:
        """Give a spare its system prompt (``initialize``, the first control request it gets):
        from now on it serves only ``key``."""
        request = {"subtype": "initialize", "systemPrompt": key.system_prompt}
        if not await self._control(worker, request, timeout=timeout):
            return False
        worker.key = key
        return True

    async def _wait_for_busy(self, key: WarmKey, demand: _Demand) -> bool:
        """Wait for a busy process of ``key`` to be parked, if that is likely sooner than a
        start (warm tasks take ~30 ms, a start ~1 s), at most a start's time. True if a
        process was parked meanwhile (look again), False to go on without it."""
        wait = self._busy_wait(key, demand)
        if wait <= 0:
            return False
        waiter = asyncio.get_running_loop().create_future()
        demand.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), wait)
        except TimeoutError:
            return False
        finally:
            if waiter in demand.waiters:
                demand.waiters.remove(waiter)
        return True

    def _busy_wait(self, key: WarmKey, demand: _Demand) -> float:
        """Seconds worth waiting for a busy process of ``key`` (0: start a new one)."""
        now = time.monotonic()
        busy = sorted(now - w.task_started for w in self._busy if w.key == key and w.task_started)
        if len(busy) <= len(demand.waiters):
            return 0.0  # each busy process already has a task waiting for it
        remaining = demand.task_seconds - busy[-1 - len(demand.waiters)]
        if remaining >= self._start_seconds:
            return 0.0  # slower than a start
        return self._start_seconds  # overdue answers too: the wait is bounded by a start

    def _demand_of(self, key: WarmKey | None) -> _Demand | None:
        return None if key is None else self._demand.get(key)

    def _wake(self, key: WarmKey | None) -> None:
        """A process of ``key`` was parked or retired: let one waiting task look again."""
        demand = self._demand_of(key)
        while demand is not None and demand.waiters:
            waiter = demand.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def _take_idle(self, key: WarmKey, model: str) -> _Warm | None:
        """The newest idle process of ``key``, preferring one already on ``model``."""
        best: _Warm | None = None
        for worker in reversed(self._idle):  # newest first: keeps few processes hot
            if worker.key != key:
                continue
            if worker.proc.returncode is not None:
                continue  # died while idle: _evict_expired or the next pass reaps it
            if worker.model == model:
                best = worker
                break
            best = best or worker
        if best is not None:
            self._idle.remove(best)
            self._busy.add(best)
        return best

    async def _configure(self, worker: _Warm, model: str, max_tokens: int | None) -> bool:
        """Put a reused process on the task's model and max_tokens (control requests)."""
        if worker.model != model:
            if not await self._control(worker, {"subtype": "set_model", "model": model}):
                return False
            if not await self._clear(worker):  # set_model left a "/model" message behind
                return False
            worker.model = model
            self.switches += 1
        if worker.max_tokens != max_tokens:
            value = "" if max_tokens is None else str(max_tokens)
            env = {"env": {MAX_TOKENS_ENV: value}}
            if not await self._control(worker, {"subtype": "apply_flag_settings", "settings": env}):
                return False
            worker.max_tokens = max_tokens
        return True

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
        worker.task_started = time.monotonic()
        if on_spawn is not None:
            on_spawn(worker.proc)
        reusable = False
        try:
            parser = StreamParser(model=worker.model, prices=self.prices)
            exchange = self._exchange(worker, task.prompt, parser, deadline, seconds, reused)
            async for delta in exchange:
                yield delta
            event = parser.result_event
            if event is not None:
                self._settle_cost(worker, event)
            if (demand := self._demand_of(worker.key)) is not None:
                spent = time.monotonic() - worker.task_started
                demand.task_seconds += 0.2 * (spent - demand.task_seconds)
            try:
                result = parser.finish()
            except CLIError as exc:
                exc.detail = exc.detail or summarize_stderr(await _finish_drain(worker.stderr))
                raise
            # Truncated: the CLI is making paid "continue" calls right now; stop it.
            reusable = not parser.truncated
            yield result
        finally:
            if reusable and not self._closed:
                # /clear off the task's path: the caller has its result now; a task of the
                # same key that comes meanwhile waits for this process (_acquire).
                cleared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                demand = self._demand_of(worker.key)
                if demand is not None:
                    demand.clearing.append(cleared)
                recycle = asyncio.ensure_future(self._recycle(worker, cleared))
                self._recycling.add(recycle)
                recycle.add_done_callback(self._recycling.discard)
            else:
                self._busy.discard(worker)
                worker.task_started = 0.0
                await _uncancellable(self._retire(worker))
                self._wake(worker.key)

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

    # --- capacity ---------------------------------------------------------------------------
    def _alive(self) -> list[_Warm]:
        return [*self._idle, *self._spares, *self._busy]

    def _rss_budget_used(self, extra: int = 0) -> float:
        workers = self._alive()
        measured = [w.rss_mb for w in workers if w.rss_mb]
        estimate = max(measured, default=RSS_ESTIMATE_MB)
        starting = self._starting + 1 + extra
        return sum(w.rss_mb or estimate for w in workers) + starting * estimate

    def _room(self, extra: int = 0) -> bool:
        """Whether ``1 + extra`` more processes fit under both caps."""
        return (
            self.process_count() + extra < self.max_processes
            and self._rss_budget_used(extra) <= self.max_memory_mb
        )

    def _make_room(self) -> bool:
        """Retire least recently used idle processes until one more fits; False if it can't."""
        while not self._room():
            victim = self._victim()
            if victim is None:
                return False
            self._in_background(self._retire(victim))
        return True

    def _victim(self) -> _Warm | None:
        """Take out the idle process whose loss costs least: one whose key has another
        process first, then the least recently used; spares last (they serve any key)."""
        if self._idle:
            counts = collections.Counter(w.key for w in self._alive())
            victim = min(self._idle, key=lambda w: (counts[w.key] < 2, w.idle_since))
            self._idle.remove(victim)
            return victim
        if self._spares:
            return self._spares.pop(0)
        return None

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self._idle if now - w.idle_since > self.idle_ttl
                       or w.proc.returncode is not None]:  # fmt: skip
            self._idle.remove(worker)
            self._in_background(self._retire(worker))
        if now - self._last_task > self.idle_ttl:  # no traffic: spares go too
            for worker in [w for w in self._spares if now - w.idle_since > self.idle_ttl]:
                self._spares.remove(worker)
                self._in_background(self._retire(worker))
        for key, demand in list(self._demand.items()):
            if now - demand.last_used > self.idle_ttl and not demand.busy:
                del self._demand[key]

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())
            self._background.add(self._reaper)
            self._reaper.add_done_callback(self._background.discard)

    async def _reap(self) -> None:
        """Retire expired idle processes even when no task comes to notice them."""
        while not self._closed:
            await asyncio.sleep(max(1.0, min(30.0, self.idle_ttl / 4)))
            self._evict_expired()

    def _spawn_refill(self) -> None:
        if (
            self.spares > 0
            and not self._closed
            and len(self._spares) + len(self._spares_starting) < self.spares
            and self._room()
        ):
            self._in_background(self._refill())

    async def _refill(self) -> None:
        """Start spares one at a time until ``spares`` are ready or starting."""
        async with self._refill_lock:  # one background cold start at a time
            if (
                self._closed
                or len(self._spares) + len(self._spares_starting) >= self.spares
                or not self._room()
            ):
                return
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._spares_starting.append(ready)
            worker: _Warm | None = None
            try:
                worker = await self._start_spare()
            except Exception as exc:  # a failed spare is not a failed task
                log.warning("starting a spare claude process failed: %s", exc)
            finally:
                if ready in self._spares_starting:
                    self._spares_starting.remove(ready)
                if not ready.done():
                    ready.set_result(None)
        if worker is not None:
            self._spawn_refill()  # the next one, if still wanted

    def _in_background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- process lifecycle ------------------------------------------------------------------
    async def _start(self, key: WarmKey, task: TaskRequest) -> _Warm:
        """Start a process for ``key`` on ``task``'s model and max_tokens, bound to ``key`` by
        its ``initialize`` handshake (whose answer also means it is ready for a message)."""
        return await self._launch(task, key)

    async def _start_spare(self) -> _Warm:
        """Start a spare on the latest task's model and max_tokens; ready (it answered a
        harmless ``mcp_status``) but bound to no key until a task takes it."""
        worker = await self._launch(self._template, None)
        worker.idle_since = time.monotonic()
        if self._closed:
            await _uncancellable(self._retire(worker))
        else:
            self._spares.append(worker)
        return worker

    async def _launch(self, task: TaskRequest, key: WarmKey | None) -> _Warm:
        self._starting += 1
        started = time.monotonic()
        try:
            worker = await self._spawn(task)
        finally:
            self._starting -= 1
        self._busy.add(worker)  # counted while it handshakes
        try:
            if key is not None:
                ok = await self._bind(worker, key, timeout=START_TIMEOUT)
            else:
                ok = await self._control(worker, {"subtype": "mcp_status"}, timeout=START_TIMEOUT)
        except BaseException:  # cancelled (shutdown, client gone): never leak the process
            await self._drop(worker)
            raise
        self._busy.discard(worker)
        if not ok:
            stderr = summarize_stderr(await _finish_drain(worker.stderr))
            await _uncancellable(self._retire(worker))
            raise CLIExitError("A warm CLI process failed to start.", detail=stderr)
        worker.rss_mb = _rss_mb(worker.proc.pid)
        self._start_seconds += 0.2 * (time.monotonic() - started - self._start_seconds)
        return worker

    async def _spawn(self, task: TaskRequest) -> _Warm:
        """A process with no system prompt yet: ``initialize`` gives it one (_bind)."""
        root = self.settings.workdir_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="ccapi-warm-", dir=root)  # mode 0700
        orphans.mark_owner(workdir)
        spec = replace(task, images=[])
        argv = build_argv(self.settings, spec)
        flag = argv.index("--system-prompt")
        del argv[flag : flag + 2]
        argv[argv.index("-p") + 1 : argv.index("-p") + 1] = ["--input-format", "stream-json"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir,
                env=build_env(self.settings, spec, self.base_env),
                start_new_session=True,
                preexec_fn=orphans.die_with_parent,  # one C call in the child: see orphans
                limit=self.settings.max_output_bytes,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise CLINotFoundError(f"Cannot start the Claude CLI: {exc.strerror}") from exc
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        orphans.mark_group(workdir, proc.pid)
        self.spawned += 1
        stderr = asyncio.create_task(_drain(proc.stderr))
        return _Warm(None, proc, workdir, stderr, model_id(self.settings, task.model),
                     task.max_tokens)  # fmt: skip

    async def _recycle(self, worker: _Warm, cleared: asyncio.Future[None]) -> None:
        """``/clear`` the conversation and park the process, or retire it if anything is off;
        then resolve ``cleared``."""
        try:
            await _uncancellable(self._park(worker))
        finally:
            self._busy.discard(worker)
            worker.task_started = 0.0
            demand = self._demand_of(worker.key)
            if demand is not None and cleared in demand.clearing:
                demand.clearing.remove(cleared)
            if not cleared.done():
                cleared.set_result(None)
            self._wake(worker.key)

    async def _park(self, worker: _Warm) -> None:
        if self._closed or not await self._clear(worker):
            self._busy.discard(worker)
            await self._retire(worker)
            return
        self._busy.discard(worker)
        worker.idle_since = time.monotonic()
        worker.rss_mb = _rss_mb(worker.proc.pid) or worker.rss_mb
        self._idle.append(worker)
        while self.process_count() > self.max_processes and (victim := self._victim()):
            await self._retire(victim)

    async def _clear(self, worker: _Warm) -> bool:
        proc = worker.proc
        assert proc.stdin is not None and proc.stdout is not None
        parser = StreamParser(model=worker.model, prices=self.prices)
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

    async def _control(
        self, worker: _Warm, request: dict[str, Any], *, timeout: float = CLEAR_TIMEOUT
    ) -> bool:
        """Send one control request and wait for its ``success`` response."""
        proc = worker.proc
        assert proc.stdin is not None and proc.stdout is not None
        request_id = f"ccapi-{worker.tasks}-{request['subtype']}"
        try:
            async with asyncio.timeout(timeout):
                proc.stdin.write(control_line(request_id, request))
                await proc.stdin.drain()
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        return False
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        response = event.get("response") if isinstance(event, dict) else None
                        if (
                            event.get("type") == "control_response"
                            and isinstance(response, dict)
                            and response.get("request_id") == request_id
                        ):
                            ok = response.get("subtype") == "success"
                            if not ok:
                                error = str(response.get("error"))[:200]
                                log.warning("claude pid %d refused %s: %s",
                                            proc.pid, request["subtype"], error)  # fmt: skip
                            return ok
        except (TimeoutError, ValueError, OSError, asyncio.LimitOverrunError):
            return False

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


def _rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * 4096 / 1e6
