"""Two weeks of usage for two projects, written through the storage API with a moving clock
(so the dashboard has several days, models, cache hits, failures and a budget to draw)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from claude_code_api.storage import BudgetManager, Database

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5")
#: proj-a's monthly burn before and after one last row today: the last row crosses the 50 %
#: alert and stops short of 80 %, whatever the day of the month (the history's share of this
#: calendar month grows with the date, so the limit is set from what was seeded in it).
PROJ_A_BURN_BEFORE, PROJ_A_BURN = 0.3, 0.65


class MovingClock:
    """The clock the seeding BudgetManager reads; set before each row."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(tzinfo=None)

    def __call__(self) -> datetime:
        return self.now


async def seed(db_path: Path, *, days: int = 14) -> None:
    """Write the usage rows into a fresh SQLite database (migrated here)."""
    db = Database.from_url(f"sqlite:///{db_path}")
    await db.migrate()
    clock = MovingClock()
    today = clock.now.replace(hour=0, minute=5, second=0, microsecond=0)
    budgets = BudgetManager(db, clock=clock)
    await budgets.set_budget("proj-a", 10**9)  # set below, once the month's usage is known
    await budgets.set_budget("proj-b", 5_000_000)
    this_month = 0
    try:
        for back in range(days - 1, -1, -1):
            for n in range(4):
                clock.now = today - timedelta(days=back) + timedelta(minutes=10 * n)
                for i, model in enumerate(MODELS):
                    # proj-a: small, growing; proj-b: ten times larger (easy to tell apart)
                    tokens = 300 + 40 * (days - back) + 150 * i + 20 * n
                    if (clock.now.year, clock.now.month) == (today.year, today.month):
                        this_month += tokens
                    for project, scale in (("proj-a", 1), ("proj-b", 10)):
                        await budgets.track_usage(
                            project,
                            model,
                            tokens * scale,
                            tokens * scale * (3e-6 if i else 1e-6),
                            latency_ms=400 + 90 * n + 300 * i,
                            cached=n == 3 and i == 0,
                            status="error" if (back, n, i) == (2, 1, 1) else "ok",
                        )
        # Today, proj-a crosses 50 % of its limit.
        clock.now = today + timedelta(minutes=50)
        limit = round(this_month / PROJ_A_BURN_BEFORE)
        await budgets.set_budget("proj-a", limit)
        last = round(limit * PROJ_A_BURN) - this_month
        await budgets.track_usage("proj-a", MODELS[1], last, 0.06, latency_ms=900)
    finally:
        await budgets.close()
        await db.dispose()
