"""Fixtures for worker tests: settings on the simulated CLI, a started pool, process probes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from claude_code_api.config import Settings
from claude_code_api.workers import WorkerPool
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings on the simulated CLI with per-test working directories.

    Cold CLI processes unless ``warm_workers=True`` is passed: these tests check the cold
    path's contracts; tests/workers/test_warm.py covers warm processes (the service default).
    """
    values: dict[str, Any] = {
        "demo": True,
        "warm_workers": False,
        "workdir_root": tmp_path / "work",
        "max_workers": 3,
        "queue_max": 10,
        "task_timeout": 10,
        "result_ttl": 60,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default worker settings (simulated CLI, 3 workers, queue of 10)."""
    return make_settings(tmp_path)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[WorkerPool]:
    """A started pool, closed (killing leftovers) after the test."""
    pool = WorkerPool(settings, monitor_interval=0.1, lost_grace=0.5)
    await pool.start()
    yield pool
    await pool.close(grace=0)


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int | None = None) -> list[tuple[int, str]]:
    """``(pid, state)`` of every direct child of ``pid`` (default: this process)."""
    parent = pid or os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found.append((int(entry.name), fields[0]))
    return found


def workdirs(settings: Settings) -> list[Path]:
    """Task working directories still present."""
    root = settings.workdir_root
    return list(root.iterdir()) if root is not None and root.exists() else []
