"""The admin commands, run through typer's CliRunner against a temporary SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claude_code_api.cli import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CCAPI_DATABASE_URL", f"sqlite:///{tmp_path}/admin.db")
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_db_upgrade(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("db", "upgrade")
    assert code == 0 and "sqlite" in out


def test_keys_create_list_revoke(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        "keys", "create", "--project", "acme", "--name", "ci", "--rate-limit", "30"
    )
    assert code == 0
    secret = out.strip()
    assert secret.startswith("ccapi_") and "key_id=" in err
    key_id = err.split("key_id=")[1].split()[0]

    code, out, _ = run("keys", "list", "--project", "acme")
    assert code == 0 and key_id in out and "rpm=30" in out and "active" in out
    assert secret not in out

    code, out, _ = run("keys", "list", "--json")
    listed = json.loads(out)
    assert [(k["key_id"], k["name"], k["revoked"]) for k in listed] == [(key_id, "ci", False)]

    code, out, _ = run("keys", "revoke", key_id)
    assert code == 0 and f"revoked {key_id}" in out
    assert "revoked" in run("keys", "list")[1]

    code, _, err = run("keys", "revoke", "key_missing")
    assert code == 1 and "No API key" in err


def test_budget_set_and_show(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("budget", "set", "acme", "50000")
    assert code == 0 and "limit=50000" in out and "remaining=50000" in out
    code, out, _ = run("budget", "show", "acme")
    assert "limit=50000 used=0 reserved=0 remaining=50000" in out
    code, out, _ = run("budget", "set", "acme", "none")
    assert code == 0 and "unlimited" in out
    code, _, err = run("budget", "set", "acme", "lots")
    assert code != 0 and "LIMIT" in err


def test_usage_export_and_summary(run) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from claude_code_api.config import get_settings
    from claude_code_api.storage import BudgetManager, Database

    async def seed() -> None:
        db = Database.from_url(get_settings().database_url)
        await db.migrate()
        manager = BudgetManager(db)
        await manager.track_usage("acme", "haiku", 100, 0.025)
        await manager.track_usage("acme", "sonnet", 50, 0.15)
        await db.dispose()

    asyncio.run(seed())
    code, out, _ = run("usage", "acme", "--period", "month", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted((r["model"], r["tokens"]) for r in rows) == [("haiku", "100"), ("sonnet", "50")]
    code, out, _ = run("usage", "acme", "--format", "json")
    assert len(json.loads(out)) == 2
    code, out, _ = run("usage", "acme", "--summary")
    summary = json.loads(out)
    assert summary["total_tokens"] == 150 and set(summary["by_model"]) == {"haiku", "sonnet"}
    code, _, err = run("usage", "acme", "--format", "xml")
    assert code != 0
    code, _, err = run("usage", "acme", "--period", "decade")
    assert code == 1 and "Unknown period" in err


def test_keys_create_with_a_tier_cap(run) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = run("keys", "create", "--project", "acme", "--max-tier", "sonnet")
    assert code == 0
    code, out, _ = run("keys", "list", "--project", "acme")
    assert "max_tier=sonnet" in out
    code, _, err = run("keys", "create", "--project", "acme", "--max-tier", "gpt")
    assert code != 0 and "haiku, sonnet, opus" in err
