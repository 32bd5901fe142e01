"""BudgetManager: the seed's API, atomic reservations, periods and failing closed."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from claude_code_api.errors import (
    BudgetExceededError,
    InvalidRequestError,
    StorageUnavailableError,
)
from claude_code_api.storage import BudgetManager, Database
from tests.storage.conftest import FakeClock


class Sink:
    """Collects alerts instead of posting them."""

    def __init__(self) -> None:
        self.alerts: list[object] = []

    def notify(self, alert: object) -> None:
        self.alerts.append(alert)


async def test_check_budget_allows_within_limit(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)
    await manager.track_usage(project, "haiku", 400, 0.0001)
    assert await manager.check_budget(project, 600) is True
    assert await manager.remaining(project) == 600


async def test_check_budget_blocks_over_limit(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)
    await manager.track_usage(project, "haiku", 900, 0.0002)
    assert await manager.check_budget(project, 101) is False
    with pytest.raises(BudgetExceededError) as info:
        await manager.reserve(project, 101)
    assert "100 of 1000 remain" in info.value.message


async def test_project_without_budget_is_unlimited(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    assert await manager.remaining(project) is None
    reservation = await manager.reserve(project, 10**9)
    await manager.settle(reservation, 5)
    assert await manager.check_budget(project, 10**12) is True
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens, status.monthly_limit) == (5, 0, None)


async def test_track_usage(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.track_usage(project, "sonnet", 1500, 0.0045)
    await manager.track_usage(project, "haiku", 500, 0.000125)
    stats = await manager.get_usage(project)
    assert stats.total_tokens == 2000
    assert stats.requests == 2
    assert stats.total_cost == pytest.approx(0.004625)
    assert (await manager.status(project)).used_tokens == 2000


async def test_get_usage_stats(db: Database, project: str, clock: FakeClock) -> None:
    manager = BudgetManager(db, clock=clock)
    await manager.track_usage(project, "haiku", 10_000, 0.0025)
    await manager.track_usage(project, "sonnet", 5_000, 0.015)
    await manager.track_usage(project, "sonnet", 1_000, 0.003)
    stats = (await manager.get_usage(project, period="month")).to_dict()
    assert stats["project_id"] == project
    assert stats["period"] == "month"
    assert stats["total_tokens"] == 16_000
    assert stats["total_cost"] == pytest.approx(0.0205)
    assert stats["by_model"]["haiku"] == {"tokens": 10_000, "cost": 0.0025, "requests": 1}
    assert stats["by_model"]["sonnet"]["tokens"] == 6_000
    assert stats["by_model"]["sonnet"]["requests"] == 2
    assert stats["since"] == "2025-03-01T00:00:00Z"
    assert stats["until"] == "2025-04-01T00:00:00Z"


async def test_periods_day_week_month_all_and_range(
    db: Database, project: str, clock: FakeClock
) -> None:
    manager = BudgetManager(db, clock=clock)
    # Friday 2025-02-28 (previous month), Monday 03-10, Wednesday 03-12, Friday 03-14.
    for when, tokens in [
        (datetime(2025, 2, 28, 23, 59), 1),
        (datetime(2025, 3, 10, 0, 0), 10),
        (datetime(2025, 3, 12, 8, 15), 100),
        (datetime(2025, 3, 14, 9, 45), 1000),
    ]:
        clock.now = when
        await manager.track_usage(project, "haiku", tokens, 0.0)
    clock.now = datetime(2025, 3, 14, 12, 30)
    totals = {
        p: (await manager.get_usage(project, p)).total_tokens
        for p in ("day", "week", "month", "all")
    }
    assert totals == {"day": 1000, "week": 1110, "month": 1110, "all": 1111}
    ranged = await manager.get_usage(
        project, since=datetime(2025, 3, 12, 8, 15), until=datetime(2025, 3, 14, 9, 45)
    )
    assert (ranged.period, ranged.total_tokens) == ("custom", 100)
    with pytest.raises(InvalidRequestError):
        await manager.get_usage(project, "fortnight")


async def test_reserve_settle_release(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)
    first = await manager.reserve(project, 600)
    assert await manager.remaining(project) == 400
    with pytest.raises(BudgetExceededError):
        await manager.reserve(project, 500)
    await manager.settle(first, 250)
    await manager.settle(first, 250)  # settling twice charges once
    assert await manager.remaining(project) == 750
    second = await manager.reserve(project, 700)
    await manager.release(second)
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens, status.remaining) == (250, 0, 750)


async def test_cancelled_request_is_charged_what_it_consumed(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)
    reservation = await manager.reserve(project, 300)
    await manager.settle(reservation, 420)  # the real count wins, even above the estimate
    assert (await manager.status(project)).used_tokens == 420


async def test_concurrent_reservations_admit_exactly_what_fits(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    await manager.set_budget(project, 1000)

    async def attempt() -> bool:
        try:
            await manager.reserve(project, 100)
        except BudgetExceededError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(100)))
    assert sum(outcomes) == 10
    status = await manager.status(project)
    assert (status.reserved_tokens, status.remaining) == (1000, 0)


async def test_budget_resets_at_month_boundary(
    db: Database, project: str, clock: FakeClock
) -> None:
    manager = BudgetManager(db, clock=clock)
    await manager.set_budget(project, 1000)
    clock.now = datetime(2025, 3, 31, 23, 59, 59)
    held = await manager.reserve(project, 900)
    assert await manager.check_budget(project, 200) is False
    clock.now = datetime(2025, 4, 1, 0, 0, 0)
    assert await manager.remaining(project) == 1000
    fresh = await manager.reserve(project, 1000)
    await manager.settle(held, 800)  # charged to March, where it was reserved
    await manager.settle(fresh, 10)
    assert (await manager.status(project)).used_tokens == 10
    march = await manager.get_usage(project, since=datetime(2025, 3, 1), until=datetime(2025, 4, 1))
    assert march.total_tokens == 0  # settling touches budgets; usage rows come from the recorder


async def test_expired_reservations_are_reclaimed(
    db: Database, project: str, clock: FakeClock
) -> None:
    manager = BudgetManager(db, clock=clock, reservation_ttl=60)
    await manager.set_budget(project, 1000)
    await manager.reserve(project, 1000)  # its process "crashes": never settled
    clock.advance(seconds=61)
    reservation = await manager.reserve(project, 500)  # reclaims the stale hold first
    assert await manager.remaining(project) == 500
    await manager.settle(reservation, 500)
    assert (await manager.status(project)).remaining == 500


async def test_set_budget_rejects_negative_and_allows_unsetting(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    with pytest.raises(InvalidRequestError):
        await manager.set_budget(project, -1)
    await manager.set_budget(project, 10)
    await manager.set_budget(project, None)
    assert await manager.remaining(project) is None


async def test_zero_budget_refuses_everything(db: Database, project: str) -> None:
    manager = BudgetManager(db, alerts=Sink())
    await manager.set_budget(project, 0)
    with pytest.raises(BudgetExceededError):
        await manager.reserve(project, 1)


async def test_fails_closed_when_sqlite_is_read_only(tmp_path: Path, project: str) -> None:
    path = tmp_path / "budgets.db"
    writable = Database.from_url(f"sqlite:///{path}")
    await writable.migrate()
    await writable.dispose()
    read_only = Database.from_url(f"sqlite:///file:{path}?mode=ro&uri=true")
    manager = BudgetManager(read_only)
    try:
        with pytest.raises(StorageUnavailableError):
            await manager.reserve(project, 10)
        with pytest.raises(StorageUnavailableError):
            await manager.track_usage(project, "haiku", 1, 0.0)
        assert await read_only.ping() is True  # reads still work: only writes fail
    finally:
        await read_only.dispose()


async def test_fails_closed_when_postgres_is_unreachable(project: str) -> None:
    unreachable = Database.from_url("postgresql://postgres@127.0.0.1:1/nothing")
    manager = BudgetManager(unreachable)
    try:
        with pytest.raises(StorageUnavailableError):
            await manager.reserve(project, 10)
        with pytest.raises(StorageUnavailableError):
            await manager.remaining(project)
        assert await unreachable.ping() is False
    finally:
        await unreachable.dispose()


async def test_settle_later_applies_in_one_batch_and_close_drains(
    db: Database, project: str
) -> None:
    manager = BudgetManager(db)
    manager.settle_interval = 60  # only flush/close apply them in this test
    await manager.set_budget(project, 1000)
    held = [await manager.reserve(project, 100) for _ in range(5)]
    for reservation in held[:3]:
        manager.settle_later(reservation, 40)
    status = await manager.status(project)
    # Not applied yet: the reservations still hold their tokens (never an overspend).
    assert (status.used_tokens, status.reserved_tokens) == (0, 500)
    assert await manager.flush_settlements() == 3
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens) == (120, 200)
    for reservation in held[3:]:
        manager.settle_later(reservation, 0)
    await manager.close()
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens) == (120, 0)


async def test_settle_later_runs_in_the_background(db: Database, project: str) -> None:
    manager = BudgetManager(db)
    manager.settle_interval = 0.01
    reservation = await manager.reserve(project, 50)
    manager.settle_later(reservation, 30)
    for _ in range(200):
        if (await manager.status(project)).used_tokens == 30:
            break
        await asyncio.sleep(0.01)
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens) == (30, 0)
    await manager.close()


async def test_reservations_on_the_hot_path_are_reclaimable_and_settle(
    db: Database, project: str
) -> None:
    # On SQLite the second and later reservations take the one-hop sqlite3 path; their rows
    # must be in the formats the rest of the store reads (reclaim compares expiry times).
    clock = FakeClock(datetime(2026, 3, 10, 12, 0, 0))
    manager = BudgetManager(db, clock=clock, reservation_ttl=60)
    await manager.set_budget(project, 1000)
    first = await manager.reserve(project, 100)
    hot = [await manager.reserve(project, 100) for _ in range(3)]
    assert (await manager.status(project)).reserved_tokens == 400
    await manager.settle(hot[0], 70)
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens) == (70, 300)
    clock.advance(seconds=61)
    assert await manager.reclaim_expired() == 3  # first, hot[1], hot[2]
    status = await manager.status(project)
    assert (status.used_tokens, status.reserved_tokens) == (70, 0)
    await manager.settle(first, 10)  # already reclaimed: only the real count is charged
    assert (await manager.status(project)).used_tokens == 80
    await manager.close()
