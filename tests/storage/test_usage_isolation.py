"""One bad usage row never blocks the others (issue 11, item 1), on SQLite and PostgreSQL.

A row no column can hold is refused at ``record()``; a row the database itself refuses (here:
an operator's trigger) is found by splitting the batch. Either way it is logged with its
request id, kept apart in ``quarantined``, and every other row is written.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import func, select, text

from claude_code_api.storage import Database, UsageRecord, UsageRecorder
from claude_code_api.storage.tables import usage_log


async def rows_of(db: Database, project: str) -> list[str | None]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            select(usage_log.c.request_id).where(usage_log.c.project_id == project)
        )
        return sorted(str(r) for (r,) in result)


@pytest.mark.parametrize(
    "bad_model",
    ["claude-haiku\x00x", "claude-haiku\ud800", "m" * 300_000],
    ids=["nul", "surrogate", "huge"],
)
async def test_a_row_no_column_can_hold_is_quarantined_and_the_rest_written(
    db: Database, project: str, bad_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = UsageRecorder(db, flush_interval=0.01)
    recorder.record(UsageRecord(project, "haiku", output_tokens=1, request_id="req_good1"))
    recorder.record(UsageRecord(project, bad_model, output_tokens=1, request_id="req_bad"))
    recorder.record(UsageRecord(project, "haiku", output_tokens=1, request_id="req_good2"))
    assert await recorder.flush() == 2
    recorder.record(UsageRecord(project, "haiku", output_tokens=1, request_id="req_later"))
    with caplog.at_level(logging.WARNING, logger="claude_code_api.storage.usage"):
        await recorder.close()
    assert await rows_of(db, project) == ["req_good1", "req_good2", "req_later"]
    assert [row["request_id"] for row in recorder.quarantined] == ["req_bad"]
    assert recorder.quarantined[0]["problem"].startswith("model: ")
    assert "rows lost" not in caplog.text and "flush failed" not in caplog.text
    assert "req_bad" in caplog.text  # the quarantine is logged (earlier) with its request id


async def test_a_row_the_database_refuses_is_found_by_splitting_the_batch(
    db: Database, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = f"refuse_{uuid.uuid4().hex[:8]}"
    poison = f"req_poison_{uuid.uuid4().hex[:6]}"
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.execute(text(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON usage_log "
                f"WHEN NEW.request_id = '{poison}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))  # fmt: skip
        else:
            await conn.execute(text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.request_id = '{poison}' THEN RAISE EXCEPTION 'refused'; END IF; "
                f"RETURN NEW; END $$ LANGUAGE plpgsql"
            ))  # fmt: skip
            await conn.execute(text(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON usage_log "
                f"FOR EACH ROW EXECUTE FUNCTION {trigger}()"
            ))  # fmt: skip
    try:
        recorder = UsageRecorder(db, flush_interval=0.01, batch_size=64)
        ids = [f"req_{n:03d}" for n in range(40)]
        for n, rid in enumerate(ids):
            recorder.record(UsageRecord(project, "haiku", output_tokens=1, request_id=rid))
            if n == 17:
                recorder.record(UsageRecord(project, "haiku", output_tokens=1, request_id=poison))
        with caplog.at_level(logging.ERROR, logger="claude_code_api.storage.usage"):
            await recorder.close()
        assert await rows_of(db, project) == ids
        assert [row["request_id"] for row in recorder.quarantined] == [poison]
        assert recorder.pending == 0
        assert poison in caplog.text and "rows lost" not in caplog.text
        async with db.engine.connect() as conn:  # the rollup agrees with the raw log
            hourly = await conn.execute(
                text("SELECT SUM(requests) FROM usage_hourly WHERE project_id = :p"),
                {"p": project},
            )
            assert hourly.scalar() == 40
            raw = await conn.execute(select(func.count()).where(usage_log.c.project_id == project))
            assert raw.scalar() == 40
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}" + (
                "" if db.is_sqlite else " ON usage_log"
            )))  # fmt: skip
            if not db.is_sqlite:
                await conn.execute(text(f"DROP FUNCTION IF EXISTS {trigger}()"))
