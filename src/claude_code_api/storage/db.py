"""The database handle: an async SQLAlchemy engine plus Alembic migrations.

URLs are given in the ordinary sync form and mapped to an async driver:

* ``sqlite:///./budgets.db`` → ``sqlite+aiosqlite`` with WAL and a busy timeout, so readers never
  block the single writer and concurrent writers wait instead of failing.
* ``postgresql://`` → ``postgresql+asyncpg``; ``postgresql+psycopg://`` (psycopg 3, async mode)
  and ``postgresql+asyncpg://`` are used as given.

All I/O goes through the async driver, so no call blocks the event loop (a health check never
waits behind a slow query on the loop thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from claude_code_api.errors import StorageUnavailableError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Errors that mean "the store cannot be used right now" (translated to 503, fail closed).
DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError)

#: Arbitrary constant key of the PostgreSQL advisory lock held while migrating, so replicas
#: starting together do not race to create the same tables.
_MIGRATION_LOCK_KEY = 7_263_011_842


def async_url(url: str) -> str:
    """Map a sync-style SQLAlchemy URL to its async-driver form.

    >>> async_url("sqlite:///./budgets.db")
    'sqlite+aiosqlite:///./budgets.db'
    >>> async_url("postgresql://u@h/db")
    'postgresql+asyncpg://u@h/db'
    """
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres") and driver in ("", "psycopg2", "asyncpg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend in ("postgresql", "postgres") and driver == "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"Unsupported database URL scheme: {parsed.drivername!r}")
    return parsed.render_as_string(hide_password=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints only
    with contextlib.suppress(Exception):  # a read-only database cannot switch journal mode
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


class Database:
    """One async engine and the helpers every store uses.

    Build it with :meth:`from_url`; call :meth:`migrate` once at startup and :meth:`dispose` at
    shutdown.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        # SQLite has one writer at a time: queueing writers of this process on an asyncio lock is
        # cheaper than letting them spin in SQLite's busy handler. Other processes still rely on
        # busy_timeout. PostgreSQL needs no such lock (row locks).
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
        """Create the engine for ``url`` (see the module docstring for accepted schemes)."""
        aurl = async_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if aurl.startswith("postgresql"):
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        engine = create_async_engine(aurl, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite (single writer, no row locks)."""
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; database failures become :class:`StorageUnavailableError`."""
        lock = self._write_lock or contextlib.nullcontext()
        try:
            async with lock, self.engine.begin() as conn:
                yield conn
        except DB_ERRORS as exc:
            log.warning("database write failed: %s", type(exc).__name__)
            raise StorageUnavailableError("The usage and budget store is unavailable.") from exc

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection; failures become :class:`StorageUnavailableError`."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except DB_ERRORS as exc:
            log.warning("database read failed: %s", type(exc).__name__)
            raise StorageUnavailableError("The usage and budget store is unavailable.") from exc

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (for ``/readyz``); never raises."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except DB_ERRORS:
            return False
        return True

    async def migrate(self, revision: str = "head") -> None:
        """Run Alembic ``upgrade`` to ``revision`` over this engine.

        Alembic's sync API runs inside ``run_sync`` on the async driver, so the migration does
        not block the event loop on I/O. On PostgreSQL an advisory lock serialises replicas.
        """
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_upgrade, revision)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` pointing at the bundled migrations (no ``alembic.ini`` needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
