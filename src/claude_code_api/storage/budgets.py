"""Per-project monthly token budgets with atomic reservations (the seed's Budget Manager).

Budgets are in tokens per calendar (UTC) month; a project without a limit is unlimited. Each
project has one counter row per month in ``budget_periods`` (``used_tokens``,
``reserved_tokens``). A request reserves its worst case up front with ONE conditional UPDATE::

    UPDATE budget_periods SET reserved_tokens = reserved_tokens + :n
    WHERE project_id = :p AND period_start = :m
      AND (limit IS NULL OR used_tokens + reserved_tokens + :n <= limit)

PostgreSQL row-locks the counter and re-checks the condition after a concurrent writer commits;
SQLite runs one writer at a time. Either way N concurrent requests (in any number of processes)
cannot together overspend. ``settle`` moves the reservation to ``used_tokens`` with the real
count (the completion pipeline passes input-price equivalents, prompt-cache writes at 1.25x and
reads at 0.1x: :func:`claude_code_api.pricing.billed_tokens`); ``release`` gives it back.
Each reservation also has a row with an expiry, so a process that dies mid-request leaks its
reservation only until it expires (:meth:`reclaim_expired`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from claude_code_api.config import Settings
from claude_code_api.errors import BudgetExceededError, InvalidRequestError
from claude_code_api.storage.alerts import AlertNotifier, AlertSink, BudgetAlert, crossed
from claude_code_api.storage.analytics import UsageStats, usage_stats
from claude_code_api.storage.common import (
    Clock,
    ensure_projects,
    insert_for,
    month_start,
    naive_utc,
    utc_now,
)
from claude_code_api.storage.db import Database
from claude_code_api.storage.export import export_usage
from claude_code_api.storage.sqlite_fastpath import SqliteReservations
from claude_code_api.storage.tables import (
    budget_alerts,
    budget_periods,
    budget_reservations,
    projects,
)
from claude_code_api.storage.usage import UsageRecord, write_usage_rows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Reservation:
    """Tokens held for one request until it is settled or released."""

    id: str
    project_id: str
    tokens: int
    period_start: date
    done: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A project's budget for the current month."""

    project_id: str
    period_start: date
    monthly_limit: int | None
    used_tokens: int
    reserved_tokens: int

    @property
    def remaining(self) -> int | None:
        """Tokens still available (never negative); ``None`` when unlimited."""
        if self.monthly_limit is None:
            return None
        return max(0, self.monthly_limit - self.used_tokens - self.reserved_tokens)


def _limit_of(project_id: str) -> ScalarSelect[Any]:
    """``(SELECT monthly_token_limit FROM projects WHERE id = :project_id)``."""
    return (
        select(projects.c.monthly_token_limit).where(projects.c.id == project_id).scalar_subquery()
    )


class BudgetManager:
    """Budgets, reservations, alerts and usage queries for every project."""

    def __init__(
        self,
        db: Database,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        alerts: AlertSink | None = None,
        reservation_ttl: float = 3600.0,
    ) -> None:
        self.db = db
        self._clock = clock or utc_now
        webhook = settings.alert_webhook_url if settings else None
        self.alerts: AlertSink = alerts if alerts is not None else AlertNotifier(webhook)
        self.reservation_ttl = timedelta(seconds=reservation_ttl)
        self._known_periods: set[tuple[str, date]] = set()
        self.settle_interval = settings.usage_flush_interval if settings else 0.2
        database = db.engine.url.database
        self._fast: SqliteReservations | None = (
            SqliteReservations(database)
            if db.is_sqlite and database and database != ":memory:"
            else None
        )
        self._pending: list[tuple[Reservation, int]] = []
        self._settle_lock = asyncio.Lock()
        self._settler: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Apply queued settlements, then wait (bounded) for alert webhooks (at shutdown)."""
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        if self._pending:
            try:
                await self.flush_settlements()
            except Exception:
                log.error(
                    "budget store unavailable at shutdown: %d settlements lost", len(self._pending)
                )
        if self._fast is not None:
            self._fast.close()
            self._fast = None
        if isinstance(self.alerts, AlertNotifier):
            await self.alerts.aclose()

    def now(self) -> datetime:
        """The injected clock's time, as naive UTC."""
        return naive_utc(self._clock())

    # --- budget administration ------------------------------------------------------------
    async def set_budget(self, project_id: str, monthly_limit: int | None) -> None:
        """Set a project's monthly token limit (``None``: unlimited), creating the project."""
        if monthly_limit is not None and monthly_limit < 0:
            raise InvalidRequestError("monthly_limit must be >= 0", param="monthly_limit")
        async with self.db.write() as conn:
            await ensure_projects(conn, [project_id], self.now())
            await conn.execute(
                update(projects)
                .where(projects.c.id == project_id)
                .values(monthly_token_limit=monthly_limit)
            )

    async def status(self, project_id: str) -> BudgetStatus:
        """The project's limit, used and reserved tokens this month."""
        period = month_start(self.now())
        p, b = projects.c, budget_periods.c
        stmt = (
            select(p.monthly_token_limit, b.used_tokens, b.reserved_tokens)
            .select_from(
                projects.outerjoin(
                    budget_periods, (b.project_id == p.id) & (b.period_start == period)
                )
            )
            .where(p.id == project_id)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return BudgetStatus(project_id, period, None, 0, 0)
        return BudgetStatus(project_id, period, row[0], row[1] or 0, row[2] or 0)

    async def remaining(self, project_id: str) -> int | None:
        """Tokens left this month (``None``: unlimited)."""
        return (await self.status(project_id)).remaining

    async def check_budget(self, project_id: str, estimated_tokens: int) -> bool:
        """Whether ``estimated_tokens`` fit in the remaining budget (reserves nothing)."""
        remaining = await self.remaining(project_id)
        return remaining is None or estimated_tokens <= remaining

    # --- reservations ---------------------------------------------------------------------
    async def _ensure_period(
        self, conn: AsyncConnection, project_id: str, period: date, *, force: bool = False
    ) -> None:
        # Known counter rows skip two INSERTs on the hot path; `force` re-creates stale ones.
        if not force and (project_id, period) in self._known_periods:
            return
        await ensure_projects(conn, [project_id], self.now())
        stmt = insert_for(conn, budget_periods).on_conflict_do_nothing(
            index_elements=["project_id", "period_start"]
        )
        await conn.execute(
            stmt,
            {
                "project_id": project_id,
                "period_start": period,
                "used_tokens": 0,
                "reserved_tokens": 0,
            },
        )

    async def _try_reserve(self, reservation: Reservation) -> bool:
        key = (reservation.project_id, reservation.period_start)
        if self._fast is not None and key in self._known_periods:
            return await self._fast.reserve(
                reservation.id,
                reservation.project_id,
                reservation.period_start,
                reservation.tokens,
                self.now() + self.reservation_ttl,
            )
        b = budget_periods.c
        limit = _limit_of(reservation.project_id)
        stmt = (
            update(budget_periods)
            .where(
                b.project_id == reservation.project_id,
                b.period_start == reservation.period_start,
                or_(
                    limit.is_(None),
                    b.used_tokens + b.reserved_tokens + reservation.tokens <= limit,
                ),
            )
            .values(reserved_tokens=b.reserved_tokens + reservation.tokens)
        )
        async with self.db.write() as conn:
            await self._ensure_period(conn, reservation.project_id, reservation.period_start)
            if (await conn.execute(stmt)).rowcount != 1:
                return False
            await conn.execute(
                budget_reservations.insert(),
                {
                    "id": reservation.id,
                    "project_id": reservation.project_id,
                    "period_start": reservation.period_start,
                    "tokens": reservation.tokens,
                    "expires_at": self.now() + self.reservation_ttl,
                },
            )
        self._known_periods.add((reservation.project_id, reservation.period_start))
        return True

    async def reserve(self, project_id: str, tokens: int) -> Reservation:
        """Hold ``tokens`` of this month's budget for one request.

        Size ``tokens`` as the prompt estimate plus the request's ``max_tokens`` (or
        ``Settings.default_max_tokens``). Raises :class:`BudgetExceededError` when they do not
        fit and :class:`StorageUnavailableError` when the store cannot be written: a request is
        never run unmetered.
        """
        tokens = max(0, int(tokens))
        reservation = Reservation(uuid.uuid4().hex, project_id, tokens, month_start(self.now()))
        if await self._try_reserve(reservation):
            return reservation
        # Reservations of crashed processes may be holding the budget: reclaim, then retry once
        # (also re-creating the counter row should it have vanished).
        self._known_periods.discard((project_id, reservation.period_start))
        await self.reclaim_expired()
        if await self._try_reserve(reservation):
            return reservation
        status = await self.status(project_id)
        raise BudgetExceededError(
            f"Monthly token budget exceeded for project '{project_id}': this request needs up "
            f"to {tokens} tokens, {status.remaining} of {status.monthly_limit} remain this month."
        )

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Charge the real token count and free the reservation (idempotent per object).

        A request cancelled mid-way is settled with what it consumed; the charge may exceed the
        reservation (the real count always wins), it is never refused.
        """
        async with self.db.write() as conn:
            fired = await self._settle_in(conn, reservation, actual_tokens)
        self._notify(fired)

    def settle_later(self, reservation: Reservation, actual_tokens: int) -> None:
        """Queue a settlement; a background task applies queued ones in one transaction.

        The request path then pays one write transaction (the reservation) instead of two.
        Until it is applied the reservation keeps holding its tokens, so a delay can only
        make the budget look fuller for up to ``settle_interval``, never overspend it.
        :meth:`close` applies whatever is still queued.
        """
        self._pending.append((reservation, actual_tokens))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.get_running_loop().create_task(self._settle_loop())

    async def flush_settlements(self) -> int:
        """Apply every queued settlement now; returns how many were applied.

        Raises :class:`StorageUnavailableError` when the store cannot be written (the queued
        settlements are kept for the next attempt).
        """
        async with self._settle_lock:
            batch, self._pending = self._pending, []
            fired: list[BudgetAlert] = []
            try:
                async with self.db.write() as conn:
                    for reservation, actual in batch:
                        fired += await self._settle_in(conn, reservation, actual)
            except Exception:
                for reservation, _ in batch:
                    reservation.done = False  # the transaction rolled back
                self._pending[:0] = batch
                raise
        self._notify(fired)
        return len(batch)

    async def _settle_loop(self) -> None:
        delay = self.settle_interval
        while self._pending:
            await asyncio.sleep(delay)
            try:
                await self.flush_settlements()
                delay = self.settle_interval
            except Exception:  # keep them and retry; never let the settler die
                delay = min(max(delay * 2, 0.5), 10.0)
                log.warning("budget settlement failed; %d kept for retry", len(self._pending))

    async def _settle_in(
        self, conn: AsyncConnection, reservation: Reservation, actual_tokens: int
    ) -> list[BudgetAlert]:
        if reservation.done:
            return []
        actual = max(0, int(actual_tokens))
        b = budget_periods.c
        fired: list[BudgetAlert] = []
        held = await conn.execute(
            delete(budget_reservations).where(budget_reservations.c.id == reservation.id)
        )
        freed = reservation.tokens if held.rowcount == 1 else 0  # 0: reclaimed already
        row = (
            await conn.execute(
                update(budget_periods)
                .where(
                    b.project_id == reservation.project_id,
                    b.period_start == reservation.period_start,
                )
                .values(
                    reserved_tokens=b.reserved_tokens - freed,
                    used_tokens=b.used_tokens + actual,
                )
                .returning(b.used_tokens, _limit_of(reservation.project_id))
            )
        ).first()
        if row is not None and actual and row[1] is not None:
            fired = await self._record_alerts(
                conn,
                reservation.project_id,
                reservation.period_start,
                row[0] - actual,
                row[0],
                row[1],
            )
        reservation.done = True
        return fired

    async def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the request failed before spending anything)."""
        await self.settle(reservation, 0)

    async def reclaim_expired(self) -> int:
        """Free reservations past their expiry (left by crashed processes); returns how many."""
        b = budget_periods.c
        r = budget_reservations.c
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    delete(budget_reservations)
                    .where(r.expires_at < self.now())
                    .returning(r.project_id, r.period_start, r.tokens)
                )
            ).all()
            for project_id, period, tokens in rows:
                await conn.execute(
                    update(budget_periods)
                    .where(b.project_id == project_id, b.period_start == period)
                    .values(reserved_tokens=b.reserved_tokens - tokens)
                )
        if rows:
            log.warning("reclaimed %d expired budget reservations", len(rows))
        return len(rows)

    # --- alerts ---------------------------------------------------------------------------
    async def _record_alerts(
        self,
        conn: AsyncConnection,
        project_id: str,
        period: date,
        before: int,
        after: int,
        limit: int,
    ) -> list[BudgetAlert]:
        fired = []
        for threshold in crossed(before, after, limit):
            alert = BudgetAlert(project_id, period, threshold, after, limit, self.now())
            stmt = insert_for(conn, budget_alerts).on_conflict_do_nothing(
                index_elements=["project_id", "period_start", "threshold"]
            )
            result = await conn.execute(
                stmt,
                {
                    "project_id": project_id,
                    "period_start": period,
                    "threshold": threshold,
                    "used_tokens": after,
                    "monthly_limit": limit,
                    "created_at": alert.created_at,
                },
            )
            if result.rowcount == 1:  # 0: another request recorded it first
                fired.append(alert)
        return fired

    def _notify(self, fired: list[BudgetAlert]) -> None:
        for alert in fired:
            try:
                self.alerts.notify(alert)
            except Exception:  # alert delivery must never break a request
                log.exception("budget alert delivery failed")

    async def list_alerts(self, project_id: str) -> list[BudgetAlert]:
        """Alerts recorded for a project, oldest first."""
        a = budget_alerts.c
        stmt = (
            select(
                a.project_id,
                a.period_start,
                a.threshold,
                a.used_tokens,
                a.monthly_limit,
                a.created_at,
            )
            .where(a.project_id == project_id)
            .order_by(a.period_start, a.threshold)
        )
        async with self.db.read() as conn:
            return [BudgetAlert(*row) for row in await conn.execute(stmt)]

    # --- the seed's usage API -------------------------------------------------------------
    async def track_usage(
        self, project_id: str, model: str, tokens: int, cost: float, **fields: object
    ) -> None:
        """Charge ``tokens`` to this month's budget and write one usage row immediately.

        The API layer uses reservations plus :class:`UsageRecorder` instead; this is the seed's
        direct form (scripts, tests, imports of usage from elsewhere).
        """
        now = self.now()
        period = month_start(now)
        rec = UsageRecord(project_id, model, cost_usd=cost, tokens=int(tokens), timestamp=now)
        for name, value in fields.items():
            setattr(rec, name, value)
        b = budget_periods.c
        async with self.db.write() as conn:
            await self._ensure_period(conn, project_id, period, force=True)
            used, limit = (
                await conn.execute(
                    update(budget_periods)
                    .where(b.project_id == project_id, b.period_start == period)
                    .values(used_tokens=b.used_tokens + int(tokens))
                    .returning(b.used_tokens, _limit_of(project_id))
                )
            ).one()
            await write_usage_rows(conn, [rec.to_row(now)])
            fired = []
            if limit is not None:
                fired = await self._record_alerts(
                    conn, project_id, period, used - int(tokens), used, limit
                )
        self._known_periods.add((project_id, period))
        self._notify(fired)

    async def get_usage(
        self,
        project_id: str,
        period: str = "month",
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageStats:
        """Totals and ``by_model`` for a calendar ``period`` (day/week/month/all) or a range."""
        return await usage_stats(
            self.db, project_id, period, since=since, until=until, now=self.now()
        )

    def export_usage(
        self,
        project_id: str,
        period: str = "month",
        format: str = "csv",
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AsyncIterator[str]:
        """Stream the raw usage rows as CSV or JSON text chunks (see :func:`export_usage`)."""
        return export_usage(
            self.db, project_id, period, format, since=since, until=until, now=self.now()
        )
