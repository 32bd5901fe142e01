"""Database: URL mapping, migrations, health check, the seed module name."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from claude_code_api.storage import (
    BudgetManager,
    Database,
    UsageRecord,
    UsageRecorder,
    async_url,
)


def test_async_url_mapping() -> None:
    assert async_url("sqlite:///./budgets.db") == "sqlite+aiosqlite:///./budgets.db"
    assert async_url("postgresql://u:p@h:5/db") == "postgresql+asyncpg://u:p@h:5/db"
    assert async_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert async_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="Unsupported"):
        async_url("mysql://u@h/db")


async def test_migrate_is_idempotent_and_creates_every_table(db: Database) -> None:
    await db.migrate()
    async with db.engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {
        "projects",
        "usage_log",
        "usage_hourly",
        "api_keys",
        "budget_periods",
        "budget_reservations",
        "budget_alerts",
        "alembic_version",
    } <= names
    assert await db.ping() is True


async def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database.from_url(f"sqlite:///{tmp_path}/wal.db")
    await db.migrate()
    async with db.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    await db.dispose()
    assert (mode, timeout) == ("wal", 10000)


async def test_psycopg_async_driver_works(postgres_database: str) -> None:
    url = postgres_database.replace("postgresql://", "postgresql+psycopg://")
    db = Database.from_url(url)
    await db.migrate()
    assert await db.ping() is True
    recorder = UsageRecorder(db)
    recorder.record(UsageRecord("psycopg-project", "haiku", output_tokens=7))
    await recorder.close()
    manager = BudgetManager(db)
    reservation = await manager.reserve("psycopg-project", 10)
    await manager.settle(reservation, 3)
    assert (await manager.get_usage("psycopg-project")).total_tokens == 7
    assert (await manager.status("psycopg-project")).used_tokens == 3
    await db.dispose()


def test_seed_module_reexports() -> None:
    from claude_code_api import budget_manager, storage

    assert budget_manager.BudgetManager is storage.BudgetManager
    assert set(storage.__all__) <= set(dir(storage))
