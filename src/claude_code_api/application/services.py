"""The service objects one app instance owns, built in the lifespan (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from claude_code_api.application.metrics import Metrics
from claude_code_api.auth import Authenticator, RateLimiter
from claude_code_api.config import Settings
from claude_code_api.domain import Usage
from claude_code_api.pricing import PriceTable

if TYPE_CHECKING:
    from claude_code_api.cache import ResponseCache, SessionStore
    from claude_code_api.routing import Router
    from claude_code_api.storage import BudgetManager, Database, KeyStore, UsageRecorder
    from claude_code_api.workers import Executor, WorkerPool


@dataclass(slots=True)
class Services:
    """Everything a request handler needs, wired once per app."""

    settings: Settings
    metrics: Metrics
    prices: PriceTable
    db: Database
    budgets: BudgetManager
    usage: UsageRecorder
    keys: KeyStore
    router: Router
    cache: ResponseCache
    sessions: SessionStore
    pool: WorkerPool
    executor: Executor
    limiter: RateLimiter
    auth: Authenticator

    def record_usage(
        self,
        *,
        project_id: str,
        model: str,
        usage: Usage,
        cached: bool,
        status: str,
        request_id: str,
        key_id: str,
        latency_ms: int,
    ) -> None:
        """Queue one usage row (written in batches by the recorder, never lost on shutdown)."""
        from claude_code_api.storage import UsageRecord

        self.usage.record(
            UsageRecord(
                project_id=project_id,
                model=model,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_creation_tokens=usage.cache_creation_input_tokens,
                cache_read_tokens=usage.cache_read_input_tokens,
                cost_usd=usage.cost_usd,
                cached=cached,
                status=status,
                request_id=request_id,
                key_id=key_id,
                latency_ms=latency_ms,
            )
        )
