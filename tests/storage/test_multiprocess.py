"""Budgets hold across OS processes sharing one database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_code_api.storage import BudgetManager, Database

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_two_processes_admit_exactly_the_budget(
    backend: str, project: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        str(request.getfixturevalue("postgres_database"))
        if backend == "postgres"
        else f"sqlite:///{tmp_path}/budgets.db"
    )
    db = Database.from_url(url)
    await db.migrate()
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)  # room for 10 reservations of 100
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.storage.reserve_worker",
                url,
                project,
                "50",
                str(start_at),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    admitted = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(admitted) == 10
    status = await manager.status(project)
    assert (status.reserved_tokens, status.remaining) == (1000, 0)
    await db.dispose()
