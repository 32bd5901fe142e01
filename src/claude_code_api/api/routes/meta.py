"""``POST /v1/route``, ``GET /v1/models``, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from claude_code_api.api.common import ERRORS
from claude_code_api.api.deps import PrincipalDep, ServicesDep, extra_headers
from claude_code_api.api.schemas import ModelCard, ModelList, RouteRequest, RouteResponse
from claude_code_api.pricing import TIERS, tier_for_model

router = APIRouter()
_CREATED = 1_735_689_600  # 2025-01-01: the models list needs a stable timestamp


@router.post("/v1/route", response_model=RouteResponse, responses=ERRORS, tags=["routing"])
async def route(
    body: RouteRequest, request: Request, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    """Recommend a model for a task, with the reasoning and the signals used."""
    remaining = body.budget_remaining
    if remaining is None and principal.project_id is not None:
        remaining = await services.budgets.remaining(principal.project_id)
    decision = services.router.route(
        body.task_description,
        context_size=body.context_size,
        budget_remaining=remaining,
        max_tier=principal.max_tier,
    )
    data = decision.to_dict()
    payload = {
        "recommended_model": data["model"],
        "reasoning": data["reasoning"],
        "probability": data["probability"],
        "signals": data["signals"],
        "estimated_cost": data["estimated_cost"],
    }
    return JSONResponse(payload, headers=extra_headers(request))


@router.get("/v1/models", response_model=ModelList, tags=["models"])
async def models(services: ServicesDep) -> dict[str, Any]:
    """List the model names this service accepts (no key needed): ``auto``, the tier aliases
    and the full ids pinned by ``CCAPI_TIER_MODELS`` (any other ``claude-*`` id works too)."""
    pinned = services.settings.tier_models
    names = ["auto", *TIERS, *(pinned[t] for t in TIERS if t in pinned)]
    return {
        "object": "list",
        "data": [
            {"id": n, "object": "model", "created": _CREATED, "owned_by": "anthropic"}
            for n in names
        ],
    }


@router.get(
    "/v1/models/{model_id}",
    response_model=ModelCard,
    responses={404: ERRORS[404]},
    tags=["models"],
)
async def model(model_id: str) -> dict[str, Any]:
    """One model this service accepts (``client.models.retrieve``): ``auto``, a tier alias or a
    full Claude id; 404 ``model_not_found`` otherwise (no key needed)."""
    tier_for_model(model_id)
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "anthropic"}


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the CLI, the database and Redis (when configured) all answer."""
    from claude_code_api.workers import check_cli

    async def timed(coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, 5)
        except Exception as exc:
            return exc

    started = time.perf_counter()
    cli, db, cache = await asyncio.gather(
        timed(check_cli(services.settings)),
        timed(services.db.ping()),
        timed(services.cache.ping()),
    )
    checks: dict[str, Any] = {
        "cli": {"ok": bool(getattr(cli, "ok", False)), "detail": _detail(cli)},
        "database": {"ok": db is True, "detail": "" if db is True else _detail(db)},
        "redis": {
            "ok": cache is True or services.settings.redis_url is None,
            "detail": "in-memory" if services.settings.redis_url is None else _detail(cache),
        },
    }
    ok = all(c["ok"] for c in checks.values())
    body = {
        "status": "ready" if ok else "not_ready",
        "checks": checks,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def _detail(value: Any) -> str:
    if isinstance(value, Exception):
        return f"{type(value).__name__}: {value}"[:300]
    detail = getattr(value, "detail", "")
    version = getattr(value, "version", "")
    return f"{version} {detail}".strip() if value is not True else ""


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics."""
    return Response(
        services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
