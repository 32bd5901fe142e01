"""Streaming CSV/JSON export of usage rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from claude_code_api.errors import InvalidRequestError, StorageUnavailableError
from claude_code_api.storage import BudgetManager, Database, export_usage
from tests.storage.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]


async def collect(db: Database, project: str, fmt: str, **kw: object) -> str:
    return "".join([c async for c in export_usage(db, project, "month", fmt, **kw)])  # type: ignore[arg-type]


async def test_export_csv_and_json(db: Database, project: str, clock: FakeClock) -> None:
    manager = BudgetManager(db, clock=clock)
    await manager.track_usage(project, "haiku", 10, 0.5, request_id="r1", key_id="key_a")
    clock.advance(minutes=1)
    await manager.track_usage(project, "sonnet", 20, 0.25, cached=True)
    clock.advance(days=40)  # next month: not in March's export
    await manager.track_usage(project, "opus", 30, 1.0)

    text = await collect(db, project, "csv", now=datetime(2025, 3, 20))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["model"], r["tokens"], r["cached"]) for r in rows] == [
        ("haiku", "10", "False"),
        ("sonnet", "20", "True"),
    ]
    assert rows[0]["request_id"] == "r1" and rows[0]["timestamp"] == "2025-03-14T12:30:00Z"

    data = json.loads(await collect(db, project, "json", now=datetime(2025, 3, 20)))
    assert [(d["model"], d["tokens"], d["cost_usd"]) for d in data] == [
        ("haiku", 10, 0.5),
        ("sonnet", 20, 0.25),
    ]
    chunks = [c async for c in manager.export_usage(project, "all", "json")]
    assert len(json.loads("".join(chunks))) == 3


async def test_export_of_nothing(db: Database, project: str) -> None:
    assert json.loads(await collect(db, project, "json")) == []
    assert (await collect(db, project, "csv")).startswith("id,timestamp,project_id,model")
    with pytest.raises(InvalidRequestError):
        await collect(db, project, "xml")


async def test_csv_export_of_100k_rows_uses_bounded_memory(
    postgres_database: str, tmp_path: Path, project: str
) -> None:
    # Both backends at once, each in a clean interpreter (no coverage tracing in the way).
    urls = [f"sqlite:///{tmp_path}/export.db", postgres_database]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.storage.export_memory",
            url,
            project,
            "100000",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for url in urls
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    for url, (out, _) in zip(urls, outputs, strict=True):
        report = json.loads(out)
        assert report["lines"] == 100_001, url  # header + every row
        # The export is ~9 MB of text (several times that as row objects); streaming keeps
        # the traced peak to a few partitions of 1,000 rows (~2-4 MB; all rows at once: ~85 MB).
        assert report["bytes"] > 8_000_000, url
        assert report["peak"] < 10_000_000, (url, report)


async def test_export_fails_closed_on_unreachable_database(project: str) -> None:
    db = Database.from_url("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StorageUnavailableError):
        await collect(db, project, "csv")
    await db.dispose()
