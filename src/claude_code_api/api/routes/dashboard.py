"""``/dashboard``: the web UI (static files) and the read-only JSON it draws from.

The page signs in with the admin key (every project) or a project key (its own project only)
and calls these routes and the existing ones (``/admin/*``, ``/v1/chat/completions``) with it.
Scoping is the same as ``GET /v1/usage``: :meth:`Principal.project_for` refuses a project key
that names another project; only the admin key may leave ``project_id`` out to see all
projects at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from claude_code_api.api.common import ERRORS
from claude_code_api.api.deps import AdminDep, PrincipalDep, ServicesDep, extra_headers
from claude_code_api.application.services import Services
from claude_code_api.auth.principal import Principal
from claude_code_api.dashboard import STATIC_DIR
from claude_code_api.storage import THRESHOLDS, insights

router = APIRouter(prefix="/dashboard/api", tags=["dashboard"], responses=ERRORS)

#: OpenAI-style error type for each HTTP status this service answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error / insufficient_quota",
    500: "api_error",
    502: "cli_error",
    503: "server_busy",
    504: "timeout",
}


def _scope(principal: Principal, project_id: str | None) -> str | None:
    """The project a dashboard query reads; ``None`` (all projects) only for the admin key."""
    if principal.is_admin and not project_id:
        return None
    return principal.project_for(project_id)


@router.get("/me")
async def me(request: Request, principal: PrincipalDep) -> JSONResponse:
    """Who the signed-in key is: admin, or a project key with its limits."""
    body = {
        "is_admin": principal.is_admin,
        "project_id": principal.project_id,
        "key_id": principal.key_id,
        "rate_limit": principal.rate_limit or None,
        "max_tier": principal.max_tier,
    }
    return JSONResponse(body, headers=extra_headers(request))


@router.get("/overview")
async def overview(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    project_id: str | None = Query(None, max_length=128),
    days: int = Query(30, ge=1, le=366, description="Window in UTC days, ending today"),
) -> JSONResponse:
    """Usage per day and model, outcomes, cache hit rate, latency and the budget burn."""
    project = _scope(principal, project_id)
    now = services.budgets.now()
    until = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    since = until - timedelta(days=days)
    daily = await insights.daily_by_model(services.db, project, since=since, until=until)
    stats = await insights.request_stats(services.db, project, since=since, until=until)
    body: dict[str, Any] = {
        "project_id": project,
        "since": since.isoformat() + "Z",
        "until": until.isoformat() + "Z",
        "days": [(since + timedelta(days=i)).date().isoformat() for i in range(days)],
        "daily": [row.to_dict() for row in daily],
        "totals": {
            "tokens": sum(r.tokens for r in daily),
            "cost": sum(r.cost for r in daily),
            "requests": sum(r.requests for r in daily),
        },
        **stats.to_dict(),
        "budget": await _budget(services, project, now) if project else None,
    }
    return JSONResponse(body, headers=extra_headers(request))


async def _budget(services: Services, project: str, now: datetime) -> dict[str, Any]:
    status = await services.budgets.status(project)
    limit = status.monthly_limit
    return {
        "month": status.period_start.isoformat()[:7],
        "monthly_limit": limit,
        "used_tokens": status.used_tokens,
        "reserved_tokens": status.reserved_tokens,
        "remaining": status.remaining,
        "thresholds": list(THRESHOLDS),
        "cumulative": await insights.budget_burn(services.db, project, now),
        "alerts": await insights.alerts_this_month(services.db, project, now),
    }


@router.get("/projects")
async def project_list(
    request: Request, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    """Budgets and this month's usage: every project for the admin key, else the key's own."""
    project = None if principal.is_admin else principal.project_for(None)
    rows = await insights.project_budgets(services.db, project, services.budgets.now())
    if project is not None and not rows:  # a project that has not spent anything yet
        status = await services.budgets.status(project)
        rows = [
            {
                "project_id": project,
                "monthly_limit": status.monthly_limit,
                "used_tokens": 0,
                "reserved_tokens": 0,
                "remaining": status.remaining,
                "used_pct": None if status.monthly_limit is None else 0.0,
                "month_cost": 0.0,
                "month_requests": 0,
            }
        ]
    return JSONResponse({"data": rows}, headers=extra_headers(request))


@router.get("/errors")
async def errors(_: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """HTTP errors by type and route answered by this process since it started (admin)."""
    by_status: dict[int, dict[str, Any]] = {}
    for metric in services.metrics.requests.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            status = int(sample.labels["status"])
            if status < 400 or not sample.value:
                continue
            entry = by_status.setdefault(
                status,
                {"status": status, "type": ERROR_TYPES.get(status, "error"), "count": 0},
            )
            entry.setdefault("routes", {})[sample.labels["route"]] = int(sample.value)
            entry["count"] += int(sample.value)
    return {"scope": "process", "data": [by_status[s] for s in sorted(by_status)]}


def install(app: FastAPI) -> None:
    """Add the JSON routes, the page at ``/dashboard`` and its static files."""
    app.include_router(router)
    index = STATIC_DIR / "index.html"

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page() -> FileResponse:
        return FileResponse(index, media_type="text/html")

    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
