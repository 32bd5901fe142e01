"""Suspended runs: a CLI process kept waiting on its client tool calls between two requests.

A run with client tools (:mod:`~claude_code_api.workers.tool_bridge`) ends its turn at the
model's ``tool_use``: :meth:`ToolRun.turn` returns the calls (``stop_reason="tool_calls"``,
``suspended=True``) while the CLI waits on its pending ``tools/call``. The run is parked in
:class:`SuspendedRuns`, which holds no worker slot: it has its own cap
(``max_suspended_runs``, the oldest is ended when more suspend) and its own timeout
(``tool_call_timeout``). The follow-up request brings the results; the runner claims the run by
the calls' ids (scoped to the project) and answers the bridge, and the model gets real
``tool_result`` blocks in the same process, with the prompt cache warm. A run that is gone
(timed out, evicted, restarted service) is simply not found: the runner then starts afresh
with the rebuilt conversation the request carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from claude_code_api.domain import CompletionResult, TaskRequest, ToolCall, ToolResult, ToolSpec
from claude_code_api.errors import CLIExitError, CLIOutputError
from claude_code_api.workers.protocol import StreamParser
from claude_code_api.workers.tool_bridge import BRIDGE_NAME, PREFIX, Bridge

log = logging.getLogger(__name__)

NOT_PARALLEL = (
    "Not run: only one tool call per turn is allowed here (parallel_tool_calls is false). "
    "Call the tools one at a time."
)
NO_RESULT = "The client sent no result for this tool call."


@dataclass(eq=False)
class ToolRun:
    """One CLI process with a tool bridge, across all its turns."""

    task: TaskRequest
    proc: asyncio.subprocess.Process
    bridge: Bridge
    parser: StreamParser
    limit: int
    workdir: str
    sessions: str = ""  # the rebuilt CLI session's directory (history), removed on close
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)  # stdin feeder, stderr drain
    pending: list[str] = field(default_factory=list)  # tool_use ids the client must answer
    total: int = 0
    closed: bool = False
    bridge_checked: bool = False

    @property
    def alive(self) -> bool:
        """Whether the CLI process still runs."""
        return self.proc.returncode is None

    def resume(self, results: list[ToolResult]) -> None:
        """Answer the pending calls (a call with no result gets an error result)."""
        given = {r.tool_call_id for r in results}
        missing = [ToolResult(i, NO_RESULT, is_error=True) for i in self.pending if i not in given]
        self.bridge.answer([r for r in results if r.tool_call_id in self.pending] + missing)
        self.pending = []
        self.parser.start_turn()

    async def turn(
        self, deadline: float, seconds: float
    ) -> AsyncGenerator[str | CompletionResult, None]:
        """Text deltas, then one result: the tool calls (run suspended) or the final answer."""
        from claude_code_api.workers.runner import read_output_line, wait_exit

        parser = self.parser
        assert self.proc.stdout is not None
        while True:
            line = await read_output_line(self.proc.stdout, deadline, seconds, self.limit)
            if not line:
                break
            self.total += len(line)
            if self.total > self.limit:
                raise CLIOutputError(f"The CLI's output exceeded {self.limit} bytes.")
            for delta in parser.feed(line):
                yield delta
            self._check_bridge(line)
            if parser.truncated or parser.result_event is not None:
                break
            if parser.tool_turn:
                yield self._suspend(parser.tool_turn_result(PREFIX))
                return
        if not parser.truncated:
            await wait_exit(self.proc, deadline)
        if parser.result_event is None and not parser.truncated and self.proc.returncode:
            raise CLIExitError(
                f"The CLI exited with status {self.proc.returncode} without a result.",
                returncode=self.proc.returncode,
            )
        yield parser.finish()

    def _check_bridge(self, line: bytes) -> None:
        """The CLI starts a run without tools, silently, when an MCP server fails to start:
        refuse to answer a tool request without its tools."""
        if self.bridge_checked or b'"subtype":"init"' not in line.replace(b" ", b""):
            return
        self.bridge_checked = True
        try:
            servers = json.loads(line).get("mcp_servers") or []
        except ValueError:
            return
        status = next((s.get("status") for s in servers if s.get("name") == BRIDGE_NAME), None)
        if status is not None and status != "connected":
            log.warning("the tool bridge did not connect: %s (%s)", status, servers)
            raise CLIOutputError(f"The CLI could not start the tool bridge (MCP status {status}).")

    def _suspend(self, result: CompletionResult) -> CompletionResult:
        specs = {t.name: t for t in self.task.tools}
        calls = result.tool_calls
        if not self.task.parallel_tool_calls and len(calls) > 1:
            self.bridge.answer([ToolResult(c.id, NOT_PARALLEL, is_error=True) for c in calls[1:]])
            calls = calls[:1]
        for call in calls:
            spec = specs.get(call.name)
            if spec is not None and spec.strict and not call.error:
                call.error = schema_error(spec, call)
        result.tool_calls = calls
        self.pending = [c.id for c in calls]
        return result

    async def close(self) -> None:
        """Kill the process group, reap it, close the bridge, remove the working directory."""
        if self.closed:
            return
        self.closed = True
        from claude_code_api.workers.runner import cleanup_process, remove_workdir

        await cleanup_process(self.proc, self.tasks)
        await self.bridge.close()
        remove_workdir(self.workdir)
        if self.sessions:
            remove_workdir(self.sessions)


def schema_error(spec: ToolSpec, call: ToolCall) -> str:
    """Why ``call``'s arguments fail ``spec``'s schema ("" when they pass)."""
    import jsonschema  # only strict tools pay for the import

    try:
        cls = jsonschema.validators.validator_for(spec.input_schema)
        cls.check_schema(spec.input_schema)
        validator = cls(spec.input_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(call.arguments))
    except jsonschema.exceptions.SchemaError as exc:
        return f"the tool's schema is invalid: {exc.message}"
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path)
    return f"arguments fail the schema{' at ' + where if where else ''}: {error.message}"


class SuspendedRuns:
    """Parked :class:`ToolRun` s, found again by their pending tool-call ids."""

    def __init__(self, *, max_runs: int, ttl: float) -> None:
        self.max_runs = max_runs
        self.ttl = ttl
        self._runs: dict[ToolRun, asyncio.TimerHandle] = {}  # insertion order = age
        self._closing: set[asyncio.Task[None]] = set()
        self.expired = 0
        self.evicted = 0
        self._closed = False

    def __len__(self) -> int:
        return len(self._runs)

    def pids(self) -> list[int]:
        """Process ids of the parked CLIs."""
        return [run.proc.pid for run in self._runs]

    def add(self, run: ToolRun) -> bool:
        """Park a run; False (the caller ends it) when parking is off or the service closes."""
        if self._closed or self.max_runs == 0 or not run.alive:
            return False
        while len(self._runs) >= self.max_runs:
            oldest = next(iter(self._runs))
            log.info("ending the oldest suspended run to park a new one (cap %d)", self.max_runs)
            self.evicted += 1
            self._end(oldest)
        loop = asyncio.get_running_loop()
        self._runs[run] = loop.call_later(self.ttl, self._expire, run)
        return True

    def holds(self, project_id: str, tool_call_ids: list[str]) -> bool:
        """Whether a live run of ``project_id`` waits for any of these calls (nothing taken)."""
        wanted = set(tool_call_ids)
        return any(
            run.task.project_id == project_id and run.alive and wanted & set(run.pending)
            for run in self._runs
        )

    def claim(self, project_id: str, tool_call_ids: list[str]) -> ToolRun | None:
        """Take out the run of ``project_id`` that waits for any of these calls."""
        wanted = set(tool_call_ids)
        for run in list(self._runs):
            if run.task.project_id == project_id and wanted & set(run.pending):
                self._runs.pop(run).cancel()
                if run.alive:
                    return run
                self._end(run)
        return None

    def discard(self, run: ToolRun) -> None:
        """Forget a run (its owner ends it)."""
        timer = self._runs.pop(run, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, run: ToolRun) -> None:
        if run in self._runs:
            log.info("a suspended run waited %gs for its tool results; ending it", self.ttl)
            self.expired += 1
            del self._runs[run]
            self._end(run)

    def _end(self, run: ToolRun) -> None:
        timer = self._runs.pop(run, None)
        if timer is not None:
            timer.cancel()
        task = asyncio.get_running_loop().create_task(run.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """End every parked run (service shutdown)."""
        self._closed = True
        for run in list(self._runs):
            self._end(run)
        while self._closing:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._closing), return_exceptions=True)
