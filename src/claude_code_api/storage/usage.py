"""The usage log: one row per completion, written in batches off the request path.

:class:`UsageRecorder` buffers :class:`UsageRecord` objects in memory (``record`` never waits on
the database) and writes them with one multi-row ``INSERT`` per batch, updating the hourly rollup
(``usage_hourly``) in the same transaction so rollup totals always equal the raw log. Rows stay
buffered while the database is down and are retried; ``close()`` drains everything.

One bad row can never block the others: a row that no column could hold (NUL or a lone
surrogate in a string, a string longer than its column, a non-finite cost) is refused at
``record()``, and a batch that the database rejects while it is up is split until the rows it
cannot take are found. Those rows are *quarantined*: logged with their request id, kept apart in
:attr:`UsageRecorder.quarantined` (bounded) and never retried; every other row is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import operator
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from claude_code_api.errors import StorageUnavailableError
from claude_code_api.storage.common import Clock, ensure_projects, hour_start, insert_for, naive_utc
from claude_code_api.storage.common import utc_now as _utc_now
from claude_code_api.storage.db import Database
from claude_code_api.storage.tables import usage_hourly, usage_log
from claude_code_api.validation import text_problem

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


#: String columns of ``usage_log`` and their lengths (the table's ``String(n)``).
_STRING_COLUMNS: dict[str, int] = {
    c.name: int(c.type.length)  # type: ignore[attr-defined]
    for c in usage_log.columns
    if getattr(c.type, "length", None)
}
_INT_COLUMNS = ("tokens", "input_tokens", "output_tokens", "cache_creation_tokens",
                "cache_read_tokens", "latency_ms")  # fmt: skip
_INT_MAX = 2**63 - 1
#: Quarantined rows kept in memory for inspection; older ones are only in the log.
QUARANTINE_MAX = 1000


def row_problem(row: dict[str, Any]) -> str | None:
    """Why no database could store ``row`` (naming the column), or None when it can.

    Example: a ``model`` with a NUL gives ``"model: contains a NUL character"``.
    """
    for name, length in _STRING_COLUMNS.items():
        value = row.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{name}: not a string"
        problem = text_problem(value)
        if problem is not None:
            return f"{name}: {problem}"
        if len(value) > length:
            return f"{name}: longer than {length} characters"
    for name in _INT_COLUMNS:
        value = row.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or abs(value) > _INT_MAX
        ):
            return f"{name}: not a 64-bit integer"
    cost = row.get("cost_usd")
    if not isinstance(cost, float) or not math.isfinite(cost):
        return "cost_usd: not a finite number"
    return None


def _cause(exc: BaseException) -> str:
    """The innermost exception's class name (no message: it may quote the row)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


#: SQLSTATE classes that blame the data, not the server: data exception, integrity constraint
#: violation, and PL/pgSQL ``RAISE`` (an operator's trigger refusing a row).
_ROW_SQLSTATES = ("22", "23", "P0")


def _refused_row(exc: BaseException) -> bool:
    """Whether ``exc`` says the database refused some row (not that it is unavailable).

    Connection loss, a read-only database, timeouts and deadlocks are "unavailable": those
    rows stay buffered and are retried. Encoding errors, constraint violations and data
    exceptions blame a row: the batch is split to find it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (IntegrityError, DataError, sqlite3.IntegrityError, UnicodeError)):
            return True
        if isinstance(current, ValueError) and not isinstance(current, OSError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_ROW_SQLSTATES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _printable(value: object) -> object:
    """``value`` made safe to log: strings keep only printable ASCII, capped at 80."""
    if not isinstance(value, str):
        return value
    return "".join(ch if " " <= ch <= "~" else "?" for ch in value[:80])


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
        #: Rows no database can store (newest last, at most ``QUARANTINE_MAX``), each with a
        #: ``"problem"`` entry; they are logged with their request id and never retried.
        self.quarantined: list[dict[str, Any]] = []
        self.quarantined_total = 0

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
        row = rec.to_row(naive_utc(self._clock()))
        problem = row_problem(row)
        if problem is not None:
            self._quarantine(row, problem)
            return
        self._buffer.append(row)
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
                try:
                    await self._write(batch)
                    done = len(batch)
                except Exception as exc:
                    done = await self._isolate(batch, exc)
                # Only this method removes rows and it holds the lock: the prefix is `batch`.
                del self._buffer[: len(batch)]
                written += done
                self.written += done
        return written

    async def _write(self, rows: Sequence[dict[str, Any]]) -> None:
        async with self.db.write() as conn:
            await write_usage_rows(conn, rows)

    async def _isolate(self, batch: list[dict[str, Any]], exc: Exception) -> int:
        """Write what can be written of a failed batch; quarantine the rows the database refuses.

        A failure while the database does not answer means "unavailable": everything stays
        buffered (:class:`StorageUnavailableError`). Otherwise the batch is halved until each
        refused row is alone; returns how many rows were written.
        """
        if not _refused_row(exc) or not await self.db.ping():
            raise StorageUnavailableError("The usage store is unavailable.") from exc
        if len(batch) == 1:
            try:  # once more, alone: a transient conflict must not cost a row
                await self._write(batch)
                return 1
            except Exception as again:
                if not _refused_row(again) or not await self.db.ping():
                    raise StorageUnavailableError("The usage store is unavailable.") from again
                self._quarantine(batch[0], f"refused by the database ({_cause(again)})")
                return 0
        written = 0
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                await self._write(half)
                written += len(half)
            except Exception as inner:
                written += await self._isolate(half, inner)
        return written

    def _quarantine(self, row: dict[str, Any], problem: str) -> None:
        self.quarantined_total += 1
        self.quarantined.append({**row, "problem": problem})
        del self.quarantined[:-QUARANTINE_MAX]
        # The request id and project identify the call; the values themselves stay out of the
        # log (a bad row's strings came from a client).
        log.error(
            "usage row quarantined (request_id=%r, project_id=%r): %s",
            _printable(row.get("request_id")),
            _printable(row.get("project_id")),
            problem,
        )

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
                break
            except StorageUnavailableError:
                await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        if self.pending:
            ids = [row.get("request_id") for row in self._buffer[:20]]
            log.error(
                "usage store unavailable at shutdown: %d usage rows lost (request ids, first "
                "20: %s)",
                self.pending,
                ", ".join(str(_printable(i)) for i in ids),
            )
        if self.quarantined_total:
            log.error(
                "usage at shutdown: %d rows written, %d quarantined (never writable)",
                self.written,
                self.quarantined_total,
            )

    async def wait_late(self) -> None:
        """Wait for rows recorded after :meth:`close` to be written (tests, orderly shutdown)."""
        while self._late:
            await asyncio.gather(*list(self._late), return_exceptions=True)
