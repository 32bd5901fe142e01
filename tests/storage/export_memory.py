"""Run in a clean interpreter: load N usage rows, stream them as CSV, report the memory peak.

Usage: python -m tests.storage.export_memory URL PROJECT ROWS
Prints one JSON object: {"lines", "bytes", "peak"} (peak from tracemalloc during the export).
A separate process keeps the measurement free of the test harness (coverage tracing, fixtures);
the rows are generated inside the database (recursive CTE / generate_series) to keep it quick.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tracemalloc
from datetime import datetime

from sqlalchemy import text

from claude_code_api.storage import BudgetManager, Database, export_usage

COLUMNS = (
    "project_id, model, tokens, cost_usd, timestamp, input_tokens, output_tokens, "
    "cache_creation_tokens, cache_read_tokens, cached, status, request_id, key_id, latency_ms"
)
SQLITE_LOAD = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :total - 1)
INSERT INTO usage_log ({COLUMNS})
SELECT :p, 'haiku', i % 97 + i % 1013, 1e-6 * i,
       printf('%s.000000', datetime('2025-03-02', '+' || i || ' seconds')),
       i % 97, i % 1013, 0, 0, 0, 'ok', printf('req-%08d', i), NULL, 800
FROM n
"""
POSTGRES_LOAD = f"""
INSERT INTO usage_log ({COLUMNS})
SELECT :p, 'haiku', i % 97 + i % 1013, 1e-6 * i,
       timestamp '2025-03-02' + i * interval '1 second',
       i % 97, i % 1013, 0, 0, false, 'ok', 'req-' || lpad(i::text, 8, '0'), NULL, 800
FROM generate_series(0, :total - 1) AS i
"""


async def main(url: str, project: str, total: int) -> dict[str, int]:
    db = Database.from_url(url)
    await db.migrate()
    await BudgetManager(db).set_budget(project, None)  # creates the project row
    async with db.write() as conn:
        sql = SQLITE_LOAD if db.is_sqlite else POSTGRES_LOAD
        await conn.execute(text(sql), {"p": project, "total": total})
    lines = size = 0
    tracemalloc.start()
    start = datetime(2025, 3, 2)
    async for chunk in export_usage(db, project, "month", "csv", now=start):
        lines += chunk.count("\n")
        size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await db.dispose()
    return {"lines": lines, "bytes": size, "peak": peak}


if __name__ == "__main__":
    url, project, total = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(url, project, int(total)))))
