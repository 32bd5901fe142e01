"""Admin commands: ``keys``, ``budget``, ``usage`` and ``db`` (registered in ``cli.py``).

Each command reads the settings when it runs (never at import), migrates the database to
the current schema, does its one job and disposes of the engine.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from claude_code_api.config import Settings, get_settings
from claude_code_api.errors import CCAPIError
from claude_code_api.pricing import TIERS
from claude_code_api.storage.budgets import BudgetManager
from claude_code_api.storage.db import Database
from claude_code_api.storage.export import export_usage
from claude_code_api.storage.keys import KeyStore

T = TypeVar("T")

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
budget_app = typer.Typer(help="Project budgets (tokens per calendar month).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _run(job: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Open the configured database, migrate it, run ``job``, close it; errors exit 1."""

    async def main() -> T:
        settings = get_settings()
        db = Database.from_url(settings.database_url)
        try:
            await db.migrate()
            return await job(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except CCAPIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@keys_app.command("create")
def keys_create(
    project: str = typer.Option(..., "--project", "-p", help="Project the key acts for."),
    name: str | None = typer.Option(None, "--name", help="A label for the key."),
    rate_limit: int | None = typer.Option(
        None, "--rate-limit", min=1, help="Requests per minute (default: the service default)."
    ),
    max_tier: str | None = typer.Option(
        None, "--max-tier", help="Highest model tier the key may use: haiku, sonnet or opus."
    ),
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    if max_tier is not None and max_tier not in TIERS:
        raise typer.BadParameter(f"must be one of {', '.join(TIERS)}", param_hint="--max-tier")

    async def job(db: Database, _s: Settings) -> None:
        info, secret = await KeyStore(db).create(
            project, name=name, rate_limit=rate_limit, max_tier=max_tier
        )
        typer.echo(secret)
        typer.echo(f"key_id={info.key_id} project={info.project_id} (store the key now)", err=True)

    _run(job)


@keys_app.command("list")
def keys_list(
    project: str | None = typer.Option(None, "--project", "-p", help="Only this project."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List keys (id, project, display prefix, limits; never the secret)."""

    async def job(db: Database, _s: Settings) -> None:
        keys = await KeyStore(db).list(project)
        if as_json:
            typer.echo(json.dumps([k.to_dict() for k in keys], indent=2))
            return
        for k in keys:
            state = "revoked" if k.revoked else "active"
            last = k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "-"
            typer.echo(
                f"{k.key_id}\t{k.project_id}\t{k.prefix}…\t{k.name or '-'}\t"
                f"rpm={k.rate_limit or 'default'}\tmax_tier={k.max_tier or 'any'}\t{state}\t"
                f"last_used={last}"
            )

    _run(job)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id (key_…).")) -> None:
    """Revoke a key (other replicas stop accepting it within seconds)."""

    async def job(db: Database, _s: Settings) -> None:
        info = await KeyStore(db).revoke(key_id)
        typer.echo(f"revoked {info.key_id} ({info.project_id})")

    _run(job)


@budget_app.command("set")
def budget_set(
    project: str = typer.Argument(..., help="Project id (created if new)."),
    limit: str = typer.Argument(..., help="Tokens per month, or 'none' for unlimited."),
) -> None:
    """Set a project's monthly token limit."""
    try:
        monthly = None if limit.lower() in ("none", "unlimited") else int(limit)
    except ValueError as exc:
        raise typer.BadParameter("LIMIT must be an integer or 'none'") from exc

    async def job(db: Database, settings: Settings) -> None:
        manager = BudgetManager(db, settings)
        await manager.set_budget(project, monthly)
        status = await manager.status(project)
        typer.echo(
            f"{project}: limit={status.monthly_limit if monthly is not None else 'unlimited'} "
            f"used={status.used_tokens} remaining={status.remaining}"
        )

    _run(job)


@budget_app.command("show")
def budget_show(project: str = typer.Argument(..., help="Project id.")) -> None:
    """Show a project's limit and this month's use."""

    async def job(db: Database, settings: Settings) -> None:
        s = await BudgetManager(db, settings).status(project)
        typer.echo(
            f"{project}: limit={s.monthly_limit} used={s.used_tokens} "
            f"reserved={s.reserved_tokens} remaining={s.remaining}"
        )

    _run(job)


def usage(
    project: str = typer.Argument(..., help="Project id."),
    period: str = typer.Option("month", help="day, week, month or all."),
    format: str = typer.Option("csv", "--format", "-f", help="csv or json (raw rows)."),
    summary: bool = typer.Option(False, "--summary", help="Print totals by model as JSON."),
) -> None:
    """Export a project's usage rows as CSV or JSON (or totals with --summary)."""
    if format not in ("csv", "json"):
        raise typer.BadParameter("format must be csv or json")

    async def job(db: Database, settings: Settings) -> None:
        if summary:
            stats = await BudgetManager(db, settings).get_usage(project, period)
            typer.echo(json.dumps(stats.to_dict(), indent=2))
            return
        async for chunk in export_usage(db, project, period, format):
            sys.stdout.write(chunk)
        sys.stdout.flush()

    _run(job)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (also done automatically at startup)."""

    async def job(db: Database, settings: Settings) -> None:
        typer.echo(f"database at the current schema ({db.dialect})")

    _run(job)
