"""Persistence: budgets with atomic reservations, the usage log, analytics, API keys.

SQLite by default (``sqlite:///./budgets.db``, WAL), PostgreSQL by URL; Alembic migrations ship
with the package. See ``docs/STORAGE.md`` for the design and its assumptions.
"""

from claude_code_api.storage.alerts import THRESHOLDS, AlertNotifier, AlertSink, BudgetAlert
from claude_code_api.storage.analytics import (
    UsageStats,
    UsageTotals,
    usage_by_bucket,
    usage_by_project,
    usage_stats,
)
from claude_code_api.storage.budgets import BudgetManager, BudgetStatus, Reservation
from claude_code_api.storage.common import Clock, period_bounds, utc_now
from claude_code_api.storage.db import Database, async_url
from claude_code_api.storage.export import export_usage
from claude_code_api.storage.keys import KEY_PREFIX, ApiKeyInfo, KeyStore, hash_secret
from claude_code_api.storage.usage import UsageRecord, UsageRecorder

__all__ = [
    "KEY_PREFIX",
    "THRESHOLDS",
    "AlertNotifier",
    "AlertSink",
    "ApiKeyInfo",
    "BudgetAlert",
    "BudgetManager",
    "BudgetStatus",
    "Clock",
    "Database",
    "KeyStore",
    "Reservation",
    "UsageRecord",
    "UsageRecorder",
    "UsageStats",
    "UsageTotals",
    "async_url",
    "export_usage",
    "hash_secret",
    "period_bounds",
    "usage_by_bucket",
    "usage_by_project",
    "usage_stats",
    "utc_now",
]
