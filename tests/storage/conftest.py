"""Fixtures for the storage tests: every store test runs on SQLite and on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from claude_code_api.storage import Database


class FakeClock:
    """A settable clock (injected instead of sleeping across hours, days and months)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or this session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/budgets.db"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database (PostgreSQL is shared by the session: use unique project ids)."""
    database = Database.from_url(db_url)
    await database.migrate()
    yield database
    await database.dispose()


@pytest.fixture
def project() -> str:
    """A project id no other test uses."""
    return f"proj-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clock() -> FakeClock:
    """A clock fixed at 2025-03-14 12:30 UTC."""
    return FakeClock(datetime(2025, 3, 14, 12, 30))
