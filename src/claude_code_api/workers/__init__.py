"""Claude CLI workers: the runner (one call), the pool, CLI health, the simulated CLI.

Names are imported lazily so that ``claude-sim`` (``workers.simulated_cli``) starts without
loading pydantic and the pool: it is spawned once per simulated call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_code_api.workers.health import CLIStatus, check_cli
    from claude_code_api.workers.pool import Executor, JobState, PoolStats, WorkerPool
    from claude_code_api.workers.protocol import StreamParser, classify_result_error, redact
    from claude_code_api.workers.runner import CLIRunner, Runner, build_argv, build_env
    from claude_code_api.workers.sync import SyncWorkerPool

_EXPORTS = {
    "CLIRunner": "runner",
    "CLIStatus": "health",
    "Executor": "pool",
    "JobState": "pool",
    "PoolStats": "pool",
    "Runner": "runner",
    "StreamParser": "protocol",
    "SyncWorkerPool": "sync",
    "WorkerPool": "pool",
    "build_argv": "runner",
    "build_env": "runner",
    "check_cli": "health",
    "classify_result_error": "protocol",
    "redact": "protocol",
}
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
