"""Run in a clean interpreter: load N usage rows, stream them as CSV, report the memory peak.

Usage: python -m tests.storage.export_memory URL PROJECT ROWS
Prints one JSON object: {"lines", "bytes", "peak"} (peak from tracemalloc during the export).
A separate process keeps the measurement free of the test harness (coverage tracing, fixtures).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tracemalloc
from datetime import datetime, timedelta

from claude_code_api.storage import Database, UsageRecord, export_usage
from claude_code_api.storage.usage import bulk_load_usage


async def main(url: str, project: str, total: int) -> dict[str, int]:
    db = Database.from_url(url)
    await db.migrate()
    start = datetime(2025, 3, 2)
    for offset in range(0, total, 10_000):
        rows = [
            UsageRecord(
                project,
                "haiku",
                input_tokens=i % 97,
                output_tokens=i % 1013,
                cost_usd=1e-6 * i,
                request_id=f"req-{i:08d}",
                timestamp=start + timedelta(seconds=i),
            ).to_row(start)
            for i in range(offset, min(total, offset + 10_000))
        ]
        await bulk_load_usage(db, rows)
    del rows
    lines = size = 0
    tracemalloc.start()
    async for chunk in export_usage(db, project, "month", "csv", now=start, chunk_rows=1000):
        lines += chunk.count("\n")
        size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await db.dispose()
    return {"lines": lines, "bytes": size, "peak": peak}


if __name__ == "__main__":
    url, project, total = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(url, project, int(total)))))
