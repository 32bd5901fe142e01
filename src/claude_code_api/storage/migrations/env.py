"""Alembic environment: runs on the connection handed over by ``Database.migrate``.

Run from the command line (``alembic -x url=...``) it builds its own async engine instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from claude_code_api.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    from claude_code_api.storage.db import Database

    db = Database.from_url(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(_run)
    await db.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - developer CLI path
    url = context.get_x_argument(as_dictionary=True).get("url") or "sqlite:///./budgets.db"
    asyncio.run(_run_standalone(url))
