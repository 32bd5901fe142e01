"""A one-hop path for budget reservations on SQLite.

Why hand-rolled: through SQLAlchemy's async engine on aiosqlite, the reservation transaction
(BEGIN, conditional UPDATE, INSERT, COMMIT) costs ~3.5 ms, because every statement is a greenlet
switch plus a thread hop; the same transaction done in one ``sqlite3`` call on one thread costs
~0.25 ms. Reservations sit on every request's path before the CLI may start, so this module runs
exactly that transaction (and nothing else) on a dedicated connection and thread. The SQL is the
same single conditional UPDATE as the SQLAlchemy path, so concurrency semantics do not change:
``BEGIN IMMEDIATE`` takes SQLite's writer lock (other connections and processes wait on
``busy_timeout``), and the UPDATE re-checks the limit under it.

Values are written in SQLAlchemy's SQLite formats (``YYYY-MM-DD`` dates, ``YYYY-MM-DD
HH:MM:SS.ffffff`` datetimes) so the rest of the store reads them unchanged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from claude_code_api.errors import StorageUnavailableError

_RESERVE = """
UPDATE budget_periods SET reserved_tokens = reserved_tokens + :tokens
WHERE project_id = :project AND period_start = :period
  AND ((SELECT monthly_token_limit FROM projects WHERE id = :project) IS NULL
       OR used_tokens + reserved_tokens + :tokens
          <= (SELECT monthly_token_limit FROM projects WHERE id = :project))
"""
_RECORD = """
INSERT INTO budget_reservations (id, project_id, period_start, tokens, expires_at)
VALUES (:id, :project, :period, :tokens, :expires)
"""


class SqliteReservations:
    """Reserve budget tokens on a dedicated ``sqlite3`` connection, one thread hop per call."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccapi-budget")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
        return self._conn

    def _reserve(
        self, reservation_id: str, project_id: str, period: date, tokens: int, expires: datetime
    ) -> bool:
        conn = self._connection()
        params = {
            "id": reservation_id,
            "project": project_id,
            "period": period.isoformat(),
            "tokens": tokens,
            "expires": expires.strftime("%Y-%m-%d %H:%M:%S.%f"),
        }
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute(_RESERVE, params).rowcount != 1:
                conn.execute("ROLLBACK")
                return False
            conn.execute(_RECORD, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return True

    async def reserve(
        self, reservation_id: str, project_id: str, period: date, tokens: int, expires: datetime
    ) -> bool:
        """Hold ``tokens`` if they fit; False when they do not (nothing is written then).

        Raises :class:`StorageUnavailableError` when the database cannot be written.
        """
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._reserve, reservation_id, project_id, period, tokens, expires
            )
        except sqlite3.Error as exc:
            raise StorageUnavailableError("The usage and budget store is unavailable.") from exc

    def close(self) -> None:
        """Close the connection and stop the thread."""

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
