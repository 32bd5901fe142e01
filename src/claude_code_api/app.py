"""The app factory and its lifespan: every stateful object is created here, per app."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Scope

from claude_code_api import __version__, log_redaction
from claude_code_api.api.errors import install_error_handlers
from claude_code_api.api.middleware import RequestContextMiddleware
from claude_code_api.api.repeat_hits import RepeatHitMiddleware
from claude_code_api.api.routes import (
    admin,
    batch,
    chat,
    messages,
    meta,
    responses,
    usage,
    websocket,
)
from claude_code_api.application.completions import CompletionService
from claude_code_api.application.metrics import Metrics
from claude_code_api.application.services import Services
from claude_code_api.auth import Authenticator, RateLimiter
from claude_code_api.config import Settings
from claude_code_api.pricing import PriceTable

log = logging.getLogger("claude_code_api")

DESCRIPTION = """\
OpenAI-compatible API over the Claude Code CLI, with per-project budgets, API keys, rate
limits, model auto-routing, a response cache and a work queue.

Authenticate with `Authorization: Bearer <key>` (or `x-api-key`). Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, except under `/v1/messages`, which uses
Anthropic's `{"type": "error", "error": {"type", "message"}}`.
"""


async def build_services(settings: Settings, metrics: Metrics, stack: AsyncExitStack) -> Services:
    """Create and start every component; ``stack`` closes them in reverse order."""
    from claude_code_api.cache import ResponseCache, SessionStore, backend_from_settings
    from claude_code_api.routing import Router
    from claude_code_api.storage import BudgetManager, Database, KeyStore, UsageRecorder
    from claude_code_api.workers import Executor, WorkerPool
    from claude_code_api.workers.warm import WarmRunner

    router = Router.from_settings(settings)  # a bad rules file fails here, at startup
    db = Database.from_url(settings.database_url)
    stack.push_async_callback(db.dispose)
    await db.migrate()
    budgets = BudgetManager(db, settings)
    stack.push_async_callback(budgets.close)
    recorder = UsageRecorder(db, flush_interval=settings.usage_flush_interval)
    await recorder.start()
    stack.push_async_callback(recorder.close)
    keys = KeyStore(db)
    stack.push_async_callback(keys.close)
    backend = backend_from_settings(settings)
    stack.push_async_callback(backend.close)
    limiter = RateLimiter.create(settings.redis_url, settings.redis_prefix)
    stack.push_async_callback(limiter.close)  # after the pool: in-flight work may still count
    cache = ResponseCache(backend, settings)
    pool = WorkerPool(settings)
    await pool.start()
    stack.push_async_callback(pool.close, settings.shutdown_grace)
    executor: Executor = pool
    if settings.redis_url:
        from claude_code_api.remote import DistributedExecutor

        distributed = await DistributedExecutor.create(settings, local_pool=pool)
        stack.push_async_callback(distributed.close)
        executor = distributed

    def pool_stats() -> tuple[int, int, int]:
        stats = pool.stats()
        return stats.busy, stats.queued, stats.max_workers

    metrics.bind_pool(pool_stats)
    if isinstance(pool.runner, WarmRunner):
        metrics.bind_warm(pool.runner.stats)
    return Services(
        settings=settings,
        metrics=metrics,
        prices=PriceTable(settings.pricing),
        db=db,
        budgets=budgets,
        usage=recorder,
        keys=keys,
        router=router,
        cache=cache,
        sessions=SessionStore(backend, settings.session_ttl),
        pool=pool,
        executor=executor,
        limiter=limiter,
        auth=Authenticator(keys, settings, limiter),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build services on startup; on shutdown finish in-flight work, flush usage, close."""
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        services = await build_services(settings, app.state.metrics, stack)
        completions = CompletionService(services)
        app.state.services = services
        app.state.completions = completions
        # The ~140k objects alive after startup leave the collector's generations: a full
        # collection then no longer scans them (it took 50-500 ms on the event loop, the
        # largest cache-hit p99 stall measured). Unfrozen at shutdown, so nothing leaks.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()


PUBLIC_PATHS = frozenset({"/v1/models", "/v1/models/{model_id}", "/healthz", "/readyz", "/metrics"})


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the bearer-key security scheme on every protected route.

    Authentication is a plain dependency (see ``api/deps.authenticate``), so the scheme is
    declared here rather than through FastAPI's ``Security`` machinery.
    """
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "BearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A project API key, or the admin key for /admin routes.",
            }
        }
        for path, operations in schema["paths"].items():
            if path in PUBLIC_PATHS:
                continue
            for operation in operations.values():
                operation["security"] = [{"BearerAuth": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def _completions_of(scope: Scope) -> CompletionService | None:
    """The running app's completion pipeline (None before the lifespan built it)."""
    return getattr(scope["app"].state, "completions", None)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app. Settings come from the environment unless given."""
    settings = settings or Settings()
    logging.basicConfig(level=settings.log_level)
    log_redaction.install()  # no log level prints a key or a prompt (see the module)
    if settings.admin_key is not None:
        log_redaction.register_secret(settings.admin_key.get_secret_value())
    log_redaction.register_secret(os.environ.get("ANTHROPIC_API_KEY"))
    if settings.log_level != "DEBUG":  # migration chatter is noise at startup
        logging.getLogger("alembic").setLevel(logging.WARNING)
    app = FastAPI(
        title="Claude Code API Service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from local assets (routes/offline_docs.py)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    for module in (chat, messages, responses, batch, usage, meta, admin, websocket):
        app.include_router(module.router)
    from claude_code_api.api.routes import dashboard, offline_docs

    dashboard.install(app)
    offline_docs.install(app)
    # Inside the request context (ids, body limit, metrics), before the framework.
    app.add_middleware(
        RepeatHitMiddleware,
        renderers={
            "/v1/chat/completions": chat.render_completion,
            "/v1/messages": messages.render_message,
        },
        max_entries=settings.repeat_hits,
        service=_completions_of,
    )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=app.state.metrics,
    )
    return app
