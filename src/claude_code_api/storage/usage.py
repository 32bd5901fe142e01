"""The usage log: one row per completion, written in batches off the request path.

:class:`UsageRecorder` buffers :class:`UsageRecord` objects in memory (``record`` never waits on
the database) and writes them with one multi-row ``INSERT`` per batch, updating the hourly rollup
(``usage_hourly``) in the same transaction so rollup totals always equal the raw log. Rows stay
buffered while the database is down and are retried; ``close()`` drains everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from claude_code_api.errors import StorageUnavailableError
from claude_code_api.storage.common import Clock, ensure_projects, hour_start, insert_for, naive_utc
from claude_code_api.storage.common import utc_now as _utc_now
from claude_code_api.storage.db import Database
from claude_code_api.storage.tables import usage_hourly, usage_log

log = logging.getLogger(__name__)

#: Values of ``UsageRecord.status``.
STATUSES: tuple[str, ...] = ("ok", "error", "cancelled")


@dataclass(slots=True)
class UsageRecord:
    """One completion's usage, as the API layer reports it.

    ``tokens`` defaults to the sum of the four token counts; set it only when just a total is
    known (the seed's ``track_usage``).
    """

    project_id: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    status: str = "ok"
    request_id: str | None = None
    key_id: str | None = None
    latency_ms: int | None = None
    timestamp: datetime | None = None
    tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        """``tokens`` if set, else input + output + cache tokens."""
        if self.tokens is not None:
            return self.tokens
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens
            + self.cache_read_tokens
        )

    def to_row(self, now: datetime) -> dict[str, Any]:
        """The ``usage_log`` row (``timestamp`` falls back to ``now``)."""
        return {
            "project_id": self.project_id,
            "model": self.model,
            "tokens": self.total_tokens,
            "cost_usd": float(self.cost_usd),
            "timestamp": naive_utc(self.timestamp) if self.timestamp else now,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cached": self.cached,
            "status": self.status,
            "request_id": self.request_id,
            "key_id": self.key_id,
            "latency_ms": self.latency_ms,
        }


def _rollup(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["project_id"], hour_start(row["timestamp"]), row["model"])
        agg = totals.get(key)
        if agg is None:
            agg = totals[key] = {
                "project_id": key[0],
                "bucket_start": key[1],
                "model": key[2],
                "requests": 0,
                "tokens": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
            }
        agg["requests"] += 1
        agg["tokens"] += row["tokens"]
        agg["input_tokens"] += row["input_tokens"]
        agg["output_tokens"] += row["output_tokens"]
        agg["cost_usd"] += row["cost_usd"]
    # A fixed order makes concurrent writers lock rollup rows in the same order (no deadlocks).
    return [totals[key] for key in sorted(totals)]


_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"
_COPY_COLUMNS: tuple[str, ...] = tuple(c.name for c in usage_log.columns if c.name != "id")
_COLUMN_GETTER = operator.itemgetter(*_COPY_COLUMNS)
_TS_INDEX = _COPY_COLUMNS.index("timestamp")


async def _insert_log(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert raw rows by the fastest path the driver offers.

    ``COPY`` on asyncpg and the driver's own ``executemany`` on SQLite are several times faster
    than SQLAlchemy's generic multi-row ``INSERT``, which remains the fallback (psycopg).
    """
    if conn.dialect.driver == "asyncpg":
        raw = await conn.get_raw_connection()
        records = [tuple(row[name] for name in _COPY_COLUMNS) for row in rows]
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "usage_log", records=records, columns=list(_COPY_COLUMNS)
        )
    elif conn.dialect.name == "sqlite":
        # SQLAlchemy's SQLite DateTime is text compared as strings: store its exact format
        # (isoformat(" ", "microseconds") is _SQLITE_TS, ~4x faster than strftime). This runs on
        # the event loop, so it is kept to C-level calls: it was ~25 us a row before.
        records = []
        for row in rows:
            values = list(_COLUMN_GETTER(row))
            values[_TS_INDEX] = values[_TS_INDEX].isoformat(" ", "microseconds")
            records.append(tuple(values))
        marks = ", ".join("?" for _ in _COPY_COLUMNS)
        await conn.exec_driver_sql(
            f"INSERT INTO usage_log ({', '.join(_COPY_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            records,
        )
    else:  # psycopg: the generic path
        await conn.execute(usage_log.insert(), list(rows))


async def write_usage_rows(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``usage_log`` rows and add them to the hourly rollup, in the caller's transaction."""
    if not rows:
        return
    await ensure_projects(conn, (row["project_id"] for row in rows), rows[0]["timestamp"])
    await _insert_log(conn, rows)
    stmt = insert_for(conn, usage_hourly)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "bucket_start", "model"],
        set_={
            name: usage_hourly.c[name] + stmt.excluded[name]
            for name in ("requests", "tokens", "input_tokens", "output_tokens", "cost_usd")
        },
    )
    await conn.execute(stmt, _rollup(rows))


async def bulk_load_usage(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    """Load many ``usage_log`` rows in one transaction (imports, benchmarks), rollup included."""
    async with db.write() as conn:
        await write_usage_rows(conn, rows)


class UsageRecorder:
    """Non-blocking, batched writer of usage rows.

    ``record()`` appends to an in-memory buffer; a background task writes the buffer every
    ``flush_interval`` seconds, or as soon as ``batch_size`` rows are waiting. A batch's row
    preparation runs on the event loop, so batches stay small (250 rows: ~2 ms) to keep the
    loop from stalling under load (2,000-row batches stalled cache hits by ~20 ms). If the
    database is unavailable the rows stay buffered (up to ``max_buffer``) and are retried.
    """

    def __init__(
        self,
        db: Database,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 250,
        max_buffer: int = 1_000_000,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self._clock = clock or _utc_now
        self._buffer: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._late: set[asyncio.Task[None]] = set()
        self.written = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Rows recorded but not yet written."""
        return len(self._buffer)

    async def start(self) -> None:
        """Start the background flusher (``record`` also starts it on first use)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, rec: UsageRecord) -> None:
        """Queue one usage row; never blocks and never raises on database trouble."""
        if len(self._buffer) >= self.max_buffer:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("usage buffer full: %d rows dropped so far", self.dropped)
            return
        self._buffer.append(rec.to_row(naive_utc(self._clock())))
        if self._closed:  # a straggler after close(): write it on its own, best effort
            task = asyncio.get_running_loop().create_task(self._flush_late())
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def _flush_late(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.error("usage store unavailable: %d late usage rows lost", self.pending)

    async def flush(self) -> int:
        """Write every buffered row now; returns how many were written.

        Raises :class:`StorageUnavailableError` if the database cannot be written (the unwritten
        rows stay buffered).
        """
        written = 0
        async with self._flush_lock:
            while self._buffer:
                batch = self._buffer[: self.batch_size]
                async with self.db.write() as conn:
                    await write_usage_rows(conn, batch)
                # Only this method removes rows and it holds the lock: the prefix is `batch`.
                del self._buffer[: len(batch)]
                written += len(batch)
                self.written += len(batch)
        return written

    async def _run(self) -> None:
        delay = self.flush_interval
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.flush()
                delay = self.flush_interval
            except Exception:  # keep the rows and retry; never let the flusher die
                delay = min(max(delay * 2, 0.5), 10.0)  # back off while the database is down
                log.warning("usage flush failed; %d rows kept for retry", self.pending)

    async def close(self, *, attempts: int = 5) -> None:
        """Stop the flusher and write every remaining row (retrying a few times)."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except StorageUnavailableError:
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        log.error("usage store unavailable at shutdown: %d usage rows lost", self.pending)

    async def wait_late(self) -> None:
        """Wait for rows recorded after :meth:`close` to be written (tests, orderly shutdown)."""
        while self._late:
            await asyncio.gather(*list(self._late), return_exceptions=True)
