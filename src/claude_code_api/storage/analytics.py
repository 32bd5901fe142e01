"""Usage totals: per project and period, by model, by project, by time bucket.

Totals come from the hourly rollup for whole hours and from the raw log for the partial hours at
the edges of a range, so they equal a scan of ``usage_log`` exactly while a month costs a few
hundred rollup rows instead of millions of log rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from claude_code_api.storage.common import hour_start, naive_utc, period_bounds
from claude_code_api.storage.db import Database
from claude_code_api.storage.tables import usage_hourly, usage_log


@dataclass(slots=True)
class UsageTotals:
    """Tokens, cost and request count of a group of usage rows."""

    tokens: int = 0
    cost: float = 0.0
    requests: int = 0

    def add(self, tokens: int, cost: float, requests: int) -> None:
        """Accumulate another partial total."""
        self.tokens += int(tokens or 0)
        self.cost += float(cost or 0.0)
        self.requests += int(requests or 0)

    def to_dict(self) -> dict[str, Any]:
        """``{"tokens", "cost", "requests"}``."""
        return {"tokens": self.tokens, "cost": self.cost, "requests": self.requests}


@dataclass(slots=True)
class UsageStats:
    """A project's usage over one period: the seed's ``GET /v1/usage`` shape."""

    project_id: str
    period: str
    since: datetime | None
    until: datetime | None
    total_tokens: int = 0
    total_cost: float = 0.0
    requests: int = 0
    by_model: dict[str, UsageTotals] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``project_id, period, total_tokens, total_cost, by_model, ...``."""
        return {
            "project_id": self.project_id,
            "period": self.period,
            "since": self.since.isoformat() + "Z" if self.since else None,
            "until": self.until.isoformat() + "Z" if self.until else None,
            "total_tokens": self.total_tokens,
            "total_cost": self.total_cost,
            "requests": self.requests,
            "by_model": {model: t.to_dict() for model, t in sorted(self.by_model.items())},
        }


def resolve_range(
    period: str, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Explicit ``since``/``until`` (either may be open) win over the calendar ``period``."""
    if since is not None or until is not None:
        return (naive_utc(since) if since else None, naive_utc(until) if until else None)
    return period_bounds(period, now)


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_start(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def _split(
    since: datetime | None, until: datetime | None
) -> tuple[tuple[datetime | None, datetime | None] | None, list[tuple[datetime | None, datetime]]]:
    """Split ``[since, until)`` into a whole-hour range and raw-log edge ranges."""
    lo = _ceil_hour(since) if since else None
    hi = hour_start(until) if until else None
    if lo is not None and hi is not None and lo >= hi:
        assert since is not None and until is not None
        return None, [(since, until)]
    edges: list[tuple[datetime | None, datetime]] = []
    if since is not None and lo is not None and since < lo:
        edges.append((since, lo))
    if until is not None and hi is not None and hi < until:
        edges.append((hi, until))
    return (lo, hi), edges


async def _grouped(
    conn: AsyncConnection,
    key: str,
    project_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, UsageTotals]:
    """Totals grouped by column ``key`` (``model`` or ``project_id``), exact over the range."""
    out: dict[str, UsageTotals] = {}
    whole, edges = _split(since, until)
    if whole is not None:
        h = usage_hourly.c
        conds: list[ColumnElement[bool]] = []
        if project_id is not None:
            conds.append(h.project_id == project_id)
        if whole[0] is not None:
            conds.append(h.bucket_start >= whole[0])
        if whole[1] is not None:
            conds.append(h.bucket_start < whole[1])
        stmt = (
            select(h[key], func.sum(h.tokens), func.sum(h.cost_usd), func.sum(h.requests))
            .where(*conds)
            .group_by(h[key])
        )
        for name, tokens, cost, requests in await conn.execute(stmt):
            out.setdefault(name, UsageTotals()).add(tokens, cost, requests)
    u = usage_log.c
    for lo, hi in edges:
        conds = [u.timestamp < hi]
        if project_id is not None:
            conds.append(u.project_id == project_id)
        if lo is not None:
            conds.append(u.timestamp >= lo)
        stmt = (
            select(u[key], func.sum(u.tokens), func.sum(u.cost_usd), func.count())
            .where(*conds)
            .group_by(u[key])
        )
        for name, tokens, cost, requests in await conn.execute(stmt):
            out.setdefault(name, UsageTotals()).add(tokens, cost, requests)
    return out


async def usage_stats(
    db: Database,
    project_id: str,
    period: str = "month",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
) -> UsageStats:
    """A project's totals and per-model breakdown over ``period`` or ``[since, until)``."""
    lo, hi = resolve_range(period, since, until, now)
    label = "custom" if since is not None or until is not None else period
    async with db.read() as conn:
        by_model = await _grouped(conn, "model", project_id, lo, hi)
    stats = UsageStats(project_id=project_id, period=label, since=lo, until=hi, by_model=by_model)
    for totals in by_model.values():
        stats.total_tokens += totals.tokens
        stats.total_cost += totals.cost
        stats.requests += totals.requests
    return stats


async def usage_by_project(
    db: Database, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, UsageTotals]:
    """Totals per project over ``[since, until)`` (open ends allowed)."""
    async with db.read() as conn:
        return await _grouped(
            conn, "project_id", None, since and naive_utc(since), until and naive_utc(until)
        )


async def usage_by_bucket(
    db: Database,
    project_id: str | None = None,
    *,
    bucket: str = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[datetime, UsageTotals]:
    """Totals per UTC ``"hour"`` or ``"day"``, read from the hourly rollup.

    Time-bucketed series have hour granularity: ``since`` is rounded down and ``until`` up to
    whole hours.
    """
    if bucket not in ("hour", "day"):
        raise ValueError("bucket must be 'hour' or 'day'")
    h = usage_hourly.c
    conds: list[ColumnElement[bool]] = []
    if project_id is not None:
        conds.append(h.project_id == project_id)
    if since is not None:
        conds.append(h.bucket_start >= hour_start(naive_utc(since)))
    if until is not None:
        conds.append(h.bucket_start < _ceil_hour(naive_utc(until)))
    stmt = (
        select(h.bucket_start, func.sum(h.tokens), func.sum(h.cost_usd), func.sum(h.requests))
        .where(*conds)
        .group_by(h.bucket_start)
        .order_by(h.bucket_start)
    )
    out: dict[datetime, UsageTotals] = {}
    async with db.read() as conn:
        for start, tokens, cost, requests in await conn.execute(stmt):
            # Folding hours into days in Python keeps the SQL portable (no date_trunc in SQLite).
            key = start if bucket == "hour" else start.replace(hour=0)
            out.setdefault(key, UsageTotals()).add(tokens, cost, requests)
    return out
