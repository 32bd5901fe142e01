"""Seed module name: the worker pool lives in :mod:`claude_code_api.workers`."""

from __future__ import annotations

from claude_code_api.workers import (
    CLIRunner,
    CLIStatus,
    Executor,
    PoolStats,
    SyncWorkerPool,
    WorkerPool,
    check_cli,
)

__all__ = [
    "CLIRunner",
    "CLIStatus",
    "Executor",
    "PoolStats",
    "SyncWorkerPool",
    "WorkerPool",
    "check_cli",
]
