"""Claude CLI workers: the runner (one call), the pool, CLI health, the simulated CLI."""

from __future__ import annotations

from claude_code_api.workers.health import CLIStatus, check_cli
from claude_code_api.workers.pool import Executor, JobState, PoolStats, WorkerPool
from claude_code_api.workers.protocol import StreamParser, classify_result_error, redact
from claude_code_api.workers.runner import CLIRunner, Runner, build_argv, build_env
from claude_code_api.workers.sync import SyncWorkerPool

__all__ = [
    "CLIRunner",
    "CLIStatus",
    "Executor",
    "JobState",
    "PoolStats",
    "Runner",
    "StreamParser",
    "SyncWorkerPool",
    "WorkerPool",
    "build_argv",
    "build_env",
    "check_cli",
    "classify_result_error",
    "redact",
]
