"""Streaming CSV/JSON export of a project's raw usage rows.

Rows are read with a server-side cursor in partitions of ``chunk_rows`` and emitted as text
chunks, so exporting a month of heavy traffic uses memory bounded by one partition.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select

from claude_code_api.errors import InvalidRequestError, StorageUnavailableError
from claude_code_api.storage.analytics import resolve_range
from claude_code_api.storage.common import utc_now
from claude_code_api.storage.db import DB_ERRORS, Database
from claude_code_api.storage.tables import usage_log

#: Exported columns, in order.
EXPORT_COLUMNS: tuple[str, ...] = (
    "id",
    "timestamp",
    "project_id",
    "model",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "cached",
    "status",
    "request_id",
    "key_id",
    "latency_ms",
)

FORMATS: tuple[str, ...] = ("csv", "json")


def _plain(row: Row[Any]) -> list[Any]:
    values = list(row)
    values[1] = values[1].isoformat() + "Z"
    values[10] = bool(values[10])
    return values


def _csv_chunk(rows: Sequence[Row[Any]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(EXPORT_COLUMNS)
    writer.writerows(_plain(row) for row in rows)
    return buf.getvalue()


def _json_chunk(rows: Sequence[Row[Any]], first: bool) -> str:
    parts = [json.dumps(dict(zip(EXPORT_COLUMNS, _plain(row), strict=True))) for row in rows]
    return ("" if first else ",\n") + ",\n".join(parts)


async def export_usage(
    db: Database,
    project_id: str,
    period: str = "month",
    format: str = "csv",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    chunk_rows: int = 2000,
) -> AsyncIterator[str]:
    """Yield the project's usage rows over the period as CSV (with header) or a JSON array.

    >>> async for chunk in export_usage(db, "my-app", "month", "csv"):  # doctest: +SKIP
    ...     sink.write(chunk)
    """
    if format not in FORMATS:
        raise InvalidRequestError("format must be 'csv' or 'json'", param="format")
    lo, hi = resolve_range(period, since, until, now or utc_now())
    u = usage_log.c
    conds = [u.project_id == project_id]
    if lo is not None:
        conds.append(u.timestamp >= lo)
    if hi is not None:
        conds.append(u.timestamp < hi)
    stmt = (
        select(*(u[name] for name in EXPORT_COLUMNS))
        .where(*conds)
        .order_by(u.timestamp, u.id)
        .execution_options(yield_per=chunk_rows)
    )
    first = True
    if format == "json":
        yield "["
    try:
        async with db.engine.connect() as conn:
            result = await conn.stream(stmt)
            async for partition in result.partitions():
                if format == "csv":
                    yield _csv_chunk(partition, header=first)
                else:
                    yield _json_chunk(partition, first)
                first = False
    except DB_ERRORS as exc:
        raise StorageUnavailableError("The usage store is unavailable.") from exc
    if format == "csv" and first:
        yield _csv_chunk([], header=True)
    if format == "json":
        yield "]\n"
