"""Small helpers shared by the stores: the clock, calendar periods, dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from claude_code_api.errors import InvalidRequestError
from claude_code_api.storage.tables import projects

#: Anything returning "now"; tests inject a fixed or advancing clock instead of sleeping.
Clock = Callable[[], datetime]

Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "all")


def utc_now() -> datetime:
    """The current time as naive UTC (how the tables store time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """Convert an aware datetime to naive UTC; naive input is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def month_start(moment: datetime) -> date:
    """First day of the calendar (UTC) month containing ``moment``."""
    return naive_utc(moment).date().replace(day=1)


def next_month(day: date) -> date:
    """First day of the month after ``day``'s month."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def hour_start(moment: datetime) -> datetime:
    """``moment`` truncated to the hour."""
    return moment.replace(minute=0, second=0, microsecond=0)


def period_bounds(period: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    """Half-open ``[since, until)`` of the calendar period containing ``now`` (UTC).

    ``week`` starts on Monday (ISO); ``all`` is unbounded ``(None, None)``.
    """
    now = naive_utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight, midnight + timedelta(days=1)
    if period == "week":
        start = midnight - timedelta(days=midnight.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        first = month_start(now)
        start = datetime(first.year, first.month, 1)
        end = next_month(first)
        return start, datetime(end.year, end.month, 1)
    if period == "all":
        return None, None
    raise InvalidRequestError(
        f"Unknown period {period!r}; use one of {', '.join(PERIODS)}.", param="period"
    )


def insert_for(conn: AsyncConnection, table: Table) -> Any:
    """A dialect-specific ``INSERT`` supporting ``on_conflict_do_*`` (SQLite or PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


async def ensure_projects(conn: AsyncConnection, ids: Iterable[str], now: datetime) -> None:
    """Create missing projects (unlimited budget); existing ones are left untouched."""
    rows = [{"id": pid, "name": pid, "created_at": now} for pid in sorted(set(ids))]
    if rows:
        stmt = insert_for(conn, projects).on_conflict_do_nothing(index_elements=["id"])
        await conn.execute(stmt, rows)
