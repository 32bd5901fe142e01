"""Usage log: the batched recorder, analytics, and rollup totals that match the raw log."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from claude_code_api.errors import StorageUnavailableError
from claude_code_api.storage import (
    BudgetManager,
    Database,
    UsageRecord,
    UsageRecorder,
    usage_by_bucket,
    usage_by_project,
)
from claude_code_api.storage.tables import usage_log
from tests.storage.conftest import FakeClock


async def raw_totals(
    db: Database, project: str, since: datetime | None, until: datetime | None
) -> dict[str, tuple[int, float, int]]:
    """Totals by model straight from usage_log (the ground truth)."""
    u = usage_log.c
    conds = [u.project_id == project]
    if since is not None:
        conds.append(u.timestamp >= since)
    if until is not None:
        conds.append(u.timestamp < until)
    stmt = (
        select(u.model, func.sum(u.tokens), func.sum(u.cost_usd), func.count())
        .where(*conds)
        .group_by(u.model)
    )
    async with db.engine.connect() as conn:
        return {m: (int(t), float(c), int(n)) for m, t, c, n in await conn.execute(stmt)}


async def test_store_usage(db: Database, project: str, clock: FakeClock) -> None:
    recorder = UsageRecorder(db, flush_interval=0.05, batch_size=100, clock=clock)
    recorder.record(
        UsageRecord(
            project_id=project,
            model="claude-sonnet-4-5",
            input_tokens=20,
            output_tokens=150,
            cache_creation_tokens=3,
            cache_read_tokens=2,
            cost_usd=0.000525,
            cached=False,
            status="ok",
            request_id="req-1",
            key_id="key_1",
            latency_ms=812,
        )
    )
    for i in range(349):
        recorder.record(UsageRecord(project, "haiku", input_tokens=i, status="cancelled"))
    await recorder.close()
    assert (recorder.pending, recorder.written) == (0, 350)
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(usage_log).where(usage_log.c.request_id == "req-1"))).one()
        count = (
            await conn.execute(
                select(func.count()).select_from(usage_log).where(usage_log.c.project_id == project)
            )
        ).scalar()
    assert count == 350
    assert row.tokens == 175 and row.output_tokens == 150 and row.cache_read_tokens == 2
    assert (row.status, row.key_id, row.latency_ms, row.cached) == ("ok", "key_1", 812, False)
    assert row.timestamp == clock.now


async def test_rows_recorded_after_close_are_still_written(db: Database, project: str) -> None:
    recorder = UsageRecorder(db)
    recorder.record(UsageRecord(project, "haiku", output_tokens=1))
    await recorder.close()
    recorder.record(UsageRecord(project, "haiku", output_tokens=2))  # a late cancelled stream
    await recorder.wait_late()
    assert (recorder.pending, recorder.written) == (0, 2)
    assert (await BudgetManager(db).get_usage(project)).total_tokens == 3


async def test_recorder_flushes_in_the_background(db: Database, project: str) -> None:
    recorder = UsageRecorder(db, flush_interval=0.01, batch_size=10)
    await recorder.start()
    for _ in range(25):
        recorder.record(UsageRecord(project, "haiku", output_tokens=1))
    manager = BudgetManager(db)
    for _ in range(500):  # wait for the flusher, not for a fixed time
        if recorder.written == 25:
            break
        await asyncio.sleep(0.01)
    assert recorder.written == 25
    assert (await manager.get_usage(project)).total_tokens == 25
    await recorder.close()


async def test_recorder_keeps_rows_while_database_is_unwritable(
    tmp_path: Path, project: str
) -> None:
    path = tmp_path / "budgets.db"
    setup = Database.from_url(f"sqlite:///{path}")
    await setup.migrate()
    read_only = Database.from_url(f"sqlite:///file:{path}?mode=ro&uri=true")
    recorder = UsageRecorder(read_only, flush_interval=0.01, max_buffer=3)
    for _ in range(5):
        recorder.record(UsageRecord(project, "haiku", output_tokens=1))
    assert (recorder.pending, recorder.dropped) == (3, 2)  # bounded memory, losses counted
    with pytest.raises(StorageUnavailableError):
        await recorder.flush()
    assert recorder.pending == 3
    await recorder.close(attempts=1)
    # The same rows go through a writable handle: nothing was half-written.
    writer = UsageRecorder(setup)
    writer.record(UsageRecord(project, "haiku", output_tokens=1))
    await writer.close()
    assert (await BudgetManager(setup).get_usage(project)).requests == 1
    await read_only.dispose()
    await setup.dispose()


async def test_aggregate_usage(db: Database, project: str, clock: FakeClock) -> None:
    other = project + "-b"
    recorder = UsageRecorder(db, clock=clock)
    base = datetime(2025, 3, 14, 9, 0)
    for hour, model, tokens in [
        (0, "haiku", 100),
        (0, "sonnet", 200),
        (1, "haiku", 50),
        (26, "opus", 1000),
    ]:
        recorder.record(
            UsageRecord(
                project,
                model,
                output_tokens=tokens,
                cost_usd=tokens / 1000,
                timestamp=base + timedelta(hours=hour, minutes=5),
            )
        )
    recorder.record(UsageRecord(other, "haiku", output_tokens=7, timestamp=base))
    await recorder.close()

    by_project = await usage_by_project(db, since=base, until=base + timedelta(days=2))
    assert by_project[project].tokens == 1350 and by_project[project].requests == 4
    assert by_project[other].tokens == 7
    hourly = await usage_by_bucket(
        db, project, bucket="hour", since=base, until=base + timedelta(days=2)
    )
    assert [(k.hour, v.tokens) for k, v in hourly.items()] == [(9, 300), (10, 50), (11, 1000)]
    daily = await usage_by_bucket(db, project, bucket="day")
    assert {k.day: v.tokens for k, v in daily.items()} == {14: 350, 15: 1000}
    stats = await BudgetManager(db, clock=clock).get_usage(project, "month")
    assert {m: t.tokens for m, t in stats.by_model.items()} == {
        "haiku": 150,
        "sonnet": 200,
        "opus": 1000,
    }
    with pytest.raises(ValueError, match="bucket"):
        await usage_by_bucket(db, project, bucket="minute")


async def test_rollup_totals_match_raw_log_exactly(
    db: Database, project: str, clock: FakeClock
) -> None:
    rng = random.Random(7)
    recorder = UsageRecorder(db, batch_size=97, clock=clock)
    start = datetime(2025, 3, 1)
    for _ in range(2000):
        when = start + timedelta(seconds=rng.randrange(0, 40 * 24 * 3600))
        recorder.record(
            UsageRecord(
                project,
                rng.choice(["haiku", "sonnet", "opus"]),
                input_tokens=rng.randrange(0, 500),
                output_tokens=rng.randrange(0, 900),
                cost_usd=rng.random() / 100,
                timestamp=when,
            )
        )
    await recorder.close()
    manager = BudgetManager(db, clock=clock)
    ranges: list[tuple[datetime | None, datetime | None]] = [
        (None, None),
        (datetime(2025, 3, 3, 7, 13, 5), datetime(2025, 3, 29, 18, 47, 59)),
        (datetime(2025, 3, 5, 10, 0), datetime(2025, 3, 5, 11, 0)),
        (datetime(2025, 3, 9, 4, 20), datetime(2025, 3, 9, 4, 50)),
        (datetime(2025, 3, 20, 0, 30), None),
        (None, datetime(2025, 3, 2, 0, 30)),
    ]
    for since, until in ranges:
        stats = await manager.get_usage(project, "all", since=since, until=until)
        truth = await raw_totals(db, project, since, until)
        assert {m: (t.tokens, t.requests) for m, t in stats.by_model.items()} == {
            m: (v[0], v[2]) for m, v in truth.items()
        }
        for model, totals in stats.by_model.items():
            assert totals.cost == pytest.approx(truth[model][1], rel=1e-9)
