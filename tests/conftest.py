"""Fixtures shared by every test package: real Redis and PostgreSQL, and the simulated CLI.

A test that needs Redis or PostgreSQL and cannot reach it fails; it never skips silently.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_URL = os.environ.get("CCAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "CCAPI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def sim_cli() -> str:
    """Path of the project's simulated ``claude`` executable (installed as ``claude-sim``)."""
    path = shutil.which("claude-sim", path=str(Path(sys.executable).parent))
    assert path, "claude-sim console script missing: run `pip install -e .`"
    return path


@pytest.fixture
def sim_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[dict[str, Any]]]:
    """What reached "the model" in every simulated CLI started from now on (as the fake
    upstream logs it for the real binary): ``{"system": ..., "messages": [...]}`` per call.

    The simulated CLI appends to ``$CLAUDE_CODE_SIM_RECORD``; warm processes started before
    the fixture (spares) do not record.
    """
    path = tmp_path / "sim-calls.jsonl"
    monkeypatch.setenv("CLAUDE_CODE_SIM_RECORD", str(path))

    def calls() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return calls


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to one test, so tests never see each other's keys."""
    return f"ccapi-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_url(redis_prefix: str) -> AsyncIterator[str]:
    """URL of the real Redis server; deletes the test's keys afterwards."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment failure
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield REDIS_URL
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (plain ``postgresql://`` URL)."""
    import psycopg

    name = f"ccapi_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
    except Exception as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
