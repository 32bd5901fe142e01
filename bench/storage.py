"""Storage benchmark: usage writes/s through the recorder, get_usage latency at 1M rows.

For SQLite (a temporary file) and PostgreSQL (a temporary database on the local server):

1. bulk-load ``--rows`` usage rows (default 1,000,000) for one project inside one month
   (COPY on PostgreSQL, executemany on SQLite; the hourly rollup is updated as usual);
2. ``get_usage(project, "month")`` latency, p50/p99 over ``--queries`` calls, and the same for
   a range with unaligned edges (rollup plus raw-log edges);
3. sustained usage rows/s through :class:`UsageRecorder` (``--record`` rows recorded as fast as
   the loop allows, timed until ``close()`` has written the last one);
4. reservations/s: reserve + settle pairs from 50 concurrent tasks.

    .venv/bin/python bench/storage.py [--rows N] [--record N] [--queries N] [--backends ...]

Results are printed and written to ``bench/results/storage.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from claude_code_api.storage import BudgetManager, Database, UsageRecord, UsageRecorder
from claude_code_api.storage.usage import bulk_load_usage

OUT = Path(__file__).parent / "results" / "storage.json"
PG_ADMIN = os.environ.get("CCAPI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1")
NOW = datetime(2025, 3, 31, 12, 0)  # queries run "now"; the loaded month is March 2025


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def load(db: Database, project: str, rows: int, chunk: int = 50_000) -> float:
    rng = random.Random(1)
    start = datetime(2025, 3, 1)
    step = 30 * 24 * 3600 / rows  # a log is appended in time order: spread rows over 30 days
    t0 = time.perf_counter()
    for offset in range(0, rows, chunk):
        batch = []
        for i in range(offset, min(rows, offset + chunk)):
            inp, out = rng.randrange(10, 2000), rng.randrange(10, 1000)
            batch.append(
                UsageRecord(
                    project,
                    rng.choice(MODELS),
                    input_tokens=inp,
                    output_tokens=out,
                    cost_usd=(inp + out) * 3e-6,
                    latency_ms=rng.randrange(50, 5000),
                    request_id=uuid.uuid4().hex,
                    key_id="key_bench",
                    timestamp=start + timedelta(seconds=i * step + rng.random() * step),
                ).to_row(start)
            )
        await bulk_load_usage(db, batch)
        print(f"  loaded {offset + len(batch):,} rows", end="\r", flush=True)
    print()
    return time.perf_counter() - t0


async def query_latency(
    manager: BudgetManager, project: str, n: int, **kw: Any
) -> dict[str, float]:
    samples = []
    stats = None
    for _ in range(n):
        t0 = time.perf_counter()
        stats = await manager.get_usage(project, "month", **kw)
        samples.append((time.perf_counter() - t0) * 1000)
    assert stats is not None
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2),
        "requests_counted": stats.requests,
    }


async def recorder_throughput(db: Database, rows: int) -> dict[str, float]:
    recorder = UsageRecorder(db, flush_interval=0.2)
    await recorder.start()
    project = f"rec-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    for i in range(rows):
        recorder.record(
            UsageRecord(
                project,
                MODELS[i % 3],
                input_tokens=100,
                output_tokens=200,
                cost_usd=0.001,
                request_id=f"r{i}",
                status="ok",
                latency_ms=900,
            )
        )
        if i % 500 == 0:
            await asyncio.sleep(0)  # let the flusher run, as a busy server would
    await recorder.close()
    elapsed = time.perf_counter() - t0
    assert recorder.written == rows, (recorder.written, rows)
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed)}


async def reservation_rate(db: Database, pairs: int, concurrency: int = 50) -> dict[str, float]:
    manager = BudgetManager(db)
    project = f"res-{uuid.uuid4().hex[:8]}"
    await manager.set_budget(project, 10**12)
    per_task = pairs // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            reservation = await manager.reserve(project, 1000)
            await manager.settle(reservation, 600)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    total = per_task * concurrency
    return {"pairs": total, "pairs_per_s": round(total / elapsed)}


async def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{name}]")
    db = Database.from_url(url)
    await db.migrate()
    project = "bench-heavy"
    load_s = await load(db, project, args.rows)
    manager = BudgetManager(db, clock=lambda: NOW)
    result: dict[str, Any] = {
        "rows_loaded": args.rows,
        "bulk_load_rows_per_s": round(args.rows / load_s),
        "get_usage_month": await query_latency(manager, project, args.queries),
        "get_usage_unaligned_range": await query_latency(
            manager,
            project,
            args.queries,
            since=datetime(2025, 3, 3, 7, 13, 5),
            until=datetime(2025, 3, 29, 18, 47, 59),
        ),
        "recorder": await recorder_throughput(db, args.record),
        "reservations": await reservation_rate(db, args.reservations),
    }
    await db.dispose()
    print(json.dumps(result, indent=2))
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"params": {**vars(args), "out": str(args.out)}, "backends": {}}
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            results["backends"]["sqlite"] = await run_backend("sqlite", url, args)
    if "postgres" in backends:
        import psycopg

        name = f"ccapi_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            results["backends"]["postgres"] = await run_backend("postgres", url, args)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="usage rows to pre-load")
    parser.add_argument("--record", type=int, default=100_000, help="rows through the recorder")
    parser.add_argument("--queries", type=int, default=200, help="get_usage calls to time")
    parser.add_argument("--reservations", type=int, default=2000, help="reserve+settle pairs")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    results = asyncio.run(main(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    cli()
