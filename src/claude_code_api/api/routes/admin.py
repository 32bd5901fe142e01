"""Admin routes (``CCAPI_ADMIN_KEY``): API keys and budgets. Usage of any project is read
through ``GET /v1/usage?project_id=...`` with the admin key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from claude_code_api.api.common import ERRORS
from claude_code_api.api.deps import AdminDep, ServicesDep
from claude_code_api.api.schemas import BudgetRequest, KeyCreated, KeyCreateRequest, KeyInfo
from claude_code_api.validation import check_identifier

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERRORS)


def key_dict(info: Any) -> dict[str, Any]:
    """Public fields of a key (never the secret or its hash)."""
    return {
        "key_id": info.key_id,
        "project_id": info.project_id,
        "name": info.name,
        "prefix": info.prefix,
        "rate_limit": info.rate_limit,
        "max_tier": info.max_tier,
        "revoked": info.revoked,
        "created_at": info.created_at.isoformat() if info.created_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
    }


@router.post("/keys", response_model=KeyCreated, status_code=201)
async def create_key(body: KeyCreateRequest, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Create an API key for a project; the secret is shown only in this response."""
    info, secret = await services.keys.create(
        body.project_id, name=body.name, rate_limit=body.rate_limit, max_tier=body.max_tier
    )
    return {**key_dict(info), "key": secret}


@router.get("/keys", response_model=list[KeyInfo])
async def list_keys(
    _: AdminDep, services: ServicesDep, project_id: str | None = Query(None, max_length=128)
) -> list[dict[str, Any]]:
    """List keys, optionally of one project."""
    if project_id is not None:
        check_identifier(project_id, field="project_id")
    return [key_dict(k) for k in await services.keys.list(project_id)]


@router.delete("/keys/{key_id}", response_model=KeyInfo)
async def revoke_key(key_id: str, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Revoke a key; it is refused from then on."""
    check_identifier(key_id, field="key_id")
    return key_dict(await services.keys.revoke(key_id))


@router.put("/projects/{project_id}/budget")
async def set_budget(
    project_id: str, body: BudgetRequest, _: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """Set a project's monthly token limit (null: unlimited)."""
    check_identifier(project_id, field="project_id")
    await services.budgets.set_budget(project_id, body.monthly_limit)
    return {
        "project_id": project_id,
        "monthly_limit": body.monthly_limit,
        "remaining": await services.budgets.remaining(project_id),
    }
