"""``GET /v1/usage`` and ``GET /v1/usage/export``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from claude_code_api.api.common import ERRORS
from claude_code_api.api.deps import PrincipalDep, ServicesDep, extra_headers
from claude_code_api.api.schemas import UsageResponse
from claude_code_api.application.services import Services
from claude_code_api.validation import check_identifier

router = APIRouter(tags=["usage"])

Period = Literal["day", "week", "month", "all"]


async def usage_payload(
    services: Services,
    project_id: str,
    period: str,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    """The seed's usage shape plus the monthly limit and what remains of it."""
    stats = await services.budgets.get_usage(project_id, period=period, since=since, until=until)
    data = stats.to_dict()
    data["project_id"] = project_id
    status = await services.budgets.status(project_id)
    data["monthly_limit"] = status.monthly_limit
    data["remaining"] = status.remaining
    return data


@router.get("/v1/usage", response_model=UsageResponse, responses=ERRORS)
async def get_usage(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    project_id: str | None = Query(None, max_length=128),
    period: Period = Query("month", description="Calendar (UTC) period, or all-time"),
    since: datetime | None = Query(None, description="Explicit range start (ISO 8601)"),
    until: datetime | None = Query(None, description="Explicit range end (ISO 8601)"),
) -> JSONResponse:
    """Usage totals of a project, by model."""
    if project_id is not None:
        check_identifier(project_id, field="project_id")
    project = principal.project_for(project_id)
    payload = await usage_payload(services, project, period, since, until)
    return JSONResponse(payload, headers=extra_headers(request))


@router.get(
    "/v1/usage/export",
    responses={
        **ERRORS,
        200: {"description": "CSV or JSON rows", "content": {"text/csv": {}}},
    },
)
async def export_usage(
    principal: PrincipalDep,
    services: ServicesDep,
    project_id: str | None = Query(None, max_length=128),
    period: Period = Query("month"),
    format: Literal["csv", "json"] = Query("csv"),
) -> StreamingResponse:
    """Stream the raw usage log of a project as CSV or JSON."""
    from claude_code_api.storage import export_usage as export

    if project_id is not None:
        check_identifier(project_id, field="project_id")
    project = principal.project_for(project_id)
    media = "text/csv" if format == "csv" else "application/json"
    return StreamingResponse(
        export(services.db, project_id=project, period=period, format=format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="usage-{project}.{format}"'},
    )
