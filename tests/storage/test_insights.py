"""The dashboard's aggregates on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from claude_code_api.storage import BudgetManager, Database, insights
from tests.storage.conftest import FakeClock


async def seed(db: Database, project: str, clock: FakeClock) -> BudgetManager:
    budgets = BudgetManager(db, clock=clock)
    await budgets.set_budget(project, 1000)
    start = clock.now
    for day, model, tokens, latency, cached, status in [
        (0, "haiku", 100, 100, False, "ok"),
        (0, "haiku", 50, 10, True, "ok"),
        (0, "sonnet", 200, 300, False, "ok"),
        (1, "sonnet", 400, 500, False, "ok"),
        (1, "sonnet", 20, 900, False, "error"),
        (1, "haiku", 30, None, False, "cancelled"),
    ]:
        clock.now = start + timedelta(days=day)
        await budgets.track_usage(
            project, model, tokens, tokens / 1000, latency_ms=latency, cached=cached, status=status
        )
    return budgets


async def test_daily_usage_outcomes_latency_and_budget(
    db: Database, project: str, clock: FakeClock
) -> None:
    budgets = await seed(db, project, clock)  # 2025-03-14 and -15
    since, until = datetime(2025, 3, 1), datetime(2025, 4, 1)
    daily = await insights.daily_by_model(db, project, since=since, until=until)
    assert [(r.day.day, r.model, r.tokens, r.requests) for r in daily] == [
        (14, "haiku", 150, 2),
        (14, "sonnet", 200, 1),
        (15, "haiku", 30, 1),
        (15, "sonnet", 420, 2),
    ]
    stats = await insights.request_stats(db, project, since=since, until=until)
    assert stats.outcomes == {"ok": 4, "error": 1, "cancelled": 1}
    assert (stats.cache_hits, stats.requests, stats.cache_hit_rate) == (1, 4, 0.25)
    # p50/p95 of the answered requests' latencies [10, 100, 300, 500] (nearest rank)
    assert (stats.p50_ms, stats.p95_ms, stats.latency_samples) == (100, 500, 4)
    assert [(d["day"], d["p50_ms"], d["p95_ms"]) for d in stats.daily] == [
        ("2025-03-14", 100, 300),
        ("2025-03-15", 500, 500),
    ]
    burn = await insights.budget_burn(db, project, clock.now)
    assert burn == [{"day": "2025-03-14", "tokens": 350}, {"day": "2025-03-15", "tokens": 800}]
    alerts = await insights.alerts_this_month(db, project, clock.now)
    assert [a["threshold"] for a in alerts] == [50, 80]
    (row,) = await insights.project_budgets(db, project, clock.now)
    assert row["used_tokens"] == 800 and row["remaining"] == 200 and row["used_pct"] == 80.0
    assert row["month_requests"] == 6
    empty = await insights.request_stats(db, project, since=until, until=until)
    assert (empty.p50_ms, empty.cache_hit_rate, empty.outcomes) == (None, None, {})
    await budgets.close()


async def test_all_projects_include_every_project(db: Database, clock: FakeClock) -> None:
    budgets = BudgetManager(db, clock=clock)
    for project in ("ins-x", "ins-y"):
        await budgets.track_usage(project, "haiku", 10, 0.01, latency_ms=5)
    rows = await insights.project_budgets(db, None, clock.now)
    assert {"ins-x", "ins-y"} <= {r["project_id"] for r in rows}
    stats = await insights.request_stats(
        db, None, since=clock.now - timedelta(hours=1), until=clock.now + timedelta(hours=1)
    )
    assert stats.outcomes["ok"] >= 2
    await budgets.close()


def test_percentile_is_nearest_rank() -> None:
    assert insights.percentile([], 50) is None
    assert insights.percentile([7], 95) == 7
    assert insights.percentile(list(range(1, 101)), 95) == 95
    assert insights.percentile([10, 20, 30, 40], 50) == 20
