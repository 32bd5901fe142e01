"""Read-only aggregates for the dashboard: usage per day and model, request outcomes, cache hit
rate, latency percentiles and every project's budget for the month.

Every function takes ``project_id=None`` to mean "all projects"; callers decide who may ask for
that (the dashboard routes allow it for the admin key only). Day buckets are UTC.

Exact counts come from SQL aggregates (portable between SQLite and PostgreSQL: no
``date_trunc``); latency percentiles need the values themselves, so they are computed from the
most recent ``LATENCY_SAMPLE`` requests of the window (a dashboard needs a stable picture, not
an exact p95 over millions of rows).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from claude_code_api.storage.analytics import usage_by_project
from claude_code_api.storage.common import hour_start, month_start, next_month
from claude_code_api.storage.db import Database
from claude_code_api.storage.tables import budget_alerts, budget_periods, projects, usage_hourly
from claude_code_api.storage.tables import usage_log as log_table

#: How many of the window's latest requests the latency percentiles are computed from.
LATENCY_SAMPLE = 50_000


def percentile(values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile of ``values`` (``None`` when empty); ``values`` must be sorted.

    >>> percentile([10, 20, 30, 40], 50)
    20
    """
    if not values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


@dataclass(frozen=True, slots=True)
class DailyModelUsage:
    """One model's usage on one UTC day."""

    day: date
    model: str
    tokens: int
    cost: float
    requests: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "day": self.day.isoformat(),
            "model": self.model,
            "tokens": self.tokens,
            "cost": self.cost,
            "requests": self.requests,
        }


@dataclass(slots=True)
class RequestStats:
    """Outcomes, cache hits and latency of the requests in a window."""

    outcomes: dict[str, int] = field(default_factory=dict)  # usage_log.status -> count
    cache_hits: int = 0
    requests: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    latency_samples: int = 0
    daily: list[dict[str, Any]] = field(default_factory=list)  # latency per UTC day

    @property
    def cache_hit_rate(self) -> float | None:
        """Cache hits over answered requests (``None`` before any request)."""
        return self.cache_hits / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "outcomes": dict(sorted(self.outcomes.items())),
            "cache": {
                "hits": self.cache_hits,
                "requests": self.requests,
                "hit_rate": self.cache_hit_rate,
            },
            "latency": {
                "p50_ms": self.p50_ms,
                "p95_ms": self.p95_ms,
                "samples": self.latency_samples,
                "daily": self.daily,
            },
        }


def _percent(used: int, limit: int | None) -> float | None:
    if limit is None:
        return None
    return 100.0 if limit == 0 else round(100 * used / limit, 2)


def _scope(column: Any, project_id: str | None) -> list[ColumnElement[bool]]:
    return [] if project_id is None else [column == project_id]


async def daily_by_model(
    db: Database, project_id: str | None, *, since: datetime, until: datetime
) -> list[DailyModelUsage]:
    """Tokens, cost and requests per UTC day and model (from the hourly rollup)."""
    h = usage_hourly.c
    stmt = (
        select(
            h.bucket_start,
            h.model,
            func.sum(h.tokens),
            func.sum(h.cost_usd),
            func.sum(h.requests),
        )
        .where(
            h.bucket_start >= hour_start(since),
            h.bucket_start < until,
            *_scope(h.project_id, project_id),
        )
        .group_by(h.bucket_start, h.model)
    )
    days: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, 0.0, 0])
    async with db.read() as conn:
        for start, model, tokens, cost, requests in await conn.execute(stmt):
            agg = days[(start.date(), model)]
            agg[0] += int(tokens or 0)
            agg[1] += float(cost or 0.0)
            agg[2] += int(requests or 0)
    return [
        DailyModelUsage(day, model, tokens, cost, requests)
        for (day, model), (tokens, cost, requests) in sorted(days.items())
    ]


async def request_stats(
    db: Database, project_id: str | None, *, since: datetime, until: datetime
) -> RequestStats:
    """Outcomes by status, cache hit rate, and latency p50/p95 overall and per UTC day."""
    u = log_table.c
    window = [u.timestamp >= since, u.timestamp < until, *_scope(u.project_id, project_id)]
    counts = select(u.status, u.cached, func.count()).where(*window).group_by(u.status, u.cached)
    latest = (
        select(u.timestamp, u.latency_ms)
        .where(*window, u.status == "ok", u.latency_ms.is_not(None))
        .order_by(u.timestamp.desc())
        .limit(LATENCY_SAMPLE)
    )
    stats = RequestStats()
    per_day: dict[date, list[int]] = defaultdict(list)
    async with db.read() as conn:
        for status, cached, n in await conn.execute(counts):
            stats.outcomes[status] = stats.outcomes.get(status, 0) + int(n)
            if status == "ok":
                stats.requests += int(n)
                stats.cache_hits += int(n) if cached else 0
        for moment, latency in await conn.execute(latest):
            per_day[moment.date()].append(int(latency))
    everything = sorted(v for values in per_day.values() for v in values)
    stats.latency_samples = len(everything)
    stats.p50_ms, stats.p95_ms = percentile(everything, 50), percentile(everything, 95)
    for day in sorted(per_day):
        values = sorted(per_day[day])
        stats.daily.append(
            {
                "day": day.isoformat(),
                "p50_ms": percentile(values, 50),
                "p95_ms": percentile(values, 95),
                "requests": len(values),
            }
        )
    return stats


async def budget_burn(db: Database, project_id: str, now: datetime) -> list[dict[str, Any]]:
    """Cumulative tokens per UTC day of the current month (the burn-down's actual line)."""
    first = month_start(now)
    end = next_month(first)
    usage = await daily_by_model(
        db,
        project_id,
        since=datetime(first.year, first.month, 1),
        until=datetime(end.year, end.month, 1),
    )
    per_day: dict[date, int] = defaultdict(int)
    for row in usage:
        per_day[row.day] += row.tokens
    total, out = 0, []
    for day in sorted(per_day):
        total += per_day[day]
        out.append({"day": day.isoformat(), "tokens": total})
    return out


async def alerts_this_month(db: Database, project_id: str, now: datetime) -> list[dict[str, Any]]:
    """The 50/80/100 % alerts recorded for the current month."""
    a = budget_alerts.c
    stmt = (
        select(a.threshold, a.used_tokens, a.created_at)
        .where(a.project_id == project_id, a.period_start == month_start(now))
        .order_by(a.threshold)
    )
    async with db.read() as conn:
        return [
            {"threshold": t, "used_tokens": used, "at": at.isoformat() + "Z"}
            for t, used, at in await conn.execute(stmt)
        ]


async def project_budgets(
    db: Database, project_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    """Each project's monthly limit, this month's used/reserved tokens, cost and requests."""
    period = month_start(now)
    p, b = projects.c, budget_periods.c
    stmt = (
        select(p.id, p.monthly_token_limit, b.used_tokens, b.reserved_tokens)
        .select_from(
            projects.outerjoin(budget_periods, (b.project_id == p.id) & (b.period_start == period))
        )
        .where(*_scope(p.id, project_id))
        .order_by(p.id)
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    end = next_month(period)
    spend = await usage_by_project(
        db,
        since=datetime(period.year, period.month, 1),
        until=datetime(end.year, end.month, 1),
    )
    out = []
    for pid, limit, used, reserved in rows:
        used, reserved = int(used or 0), int(reserved or 0)
        totals = spend.get(pid)
        out.append(
            {
                "project_id": pid,
                "monthly_limit": limit,
                "used_tokens": used,
                "reserved_tokens": reserved,
                "remaining": None if limit is None else max(0, limit - used - reserved),
                "used_pct": _percent(used, limit),
                "month_cost": totals.cost if totals else 0.0,
                "month_requests": totals.requests if totals else 0,
            }
        )
    return out
