"""The seed's ``budget_manager`` module: a thin re-export of :mod:`claude_code_api.storage`."""

from claude_code_api.storage import (
    BudgetManager,
    BudgetStatus,
    Database,
    Reservation,
    UsageRecord,
    UsageRecorder,
    UsageStats,
    export_usage,
)

__all__ = [
    "BudgetManager",
    "BudgetStatus",
    "Database",
    "Reservation",
    "UsageRecord",
    "UsageRecorder",
    "UsageStats",
    "export_usage",
]
