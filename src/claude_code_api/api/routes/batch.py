"""``POST /v1/batch``: many prompts in one request, each succeeding or failing on its own."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from claude_code_api.api.common import ERRORS, completion_body
from claude_code_api.api.deps import (
    CompletionsDep,
    PrincipalDep,
    ServicesDep,
    extra_headers,
    request_id,
)
from claude_code_api.api.errors import openai_body
from claude_code_api.api.schemas import BatchItem, BatchRequest, BatchResponse
from claude_code_api.api.streaming import cancel_on_disconnect
from claude_code_api.application.completions import CompletionService
from claude_code_api.auth.principal import Principal
from claude_code_api.errors import CCAPIError, InvalidRequestError

router = APIRouter(tags=["batch"])


async def _run_item(
    service: CompletionService, principal: Principal, project_id: str, rid: str, i: int,
    item: BatchItem,
) -> dict[str, Any]:  # fmt: skip
    try:
        try:
            messages = [m.to_message() for m in item.to_messages()]
        except ValueError as exc:
            raise InvalidRequestError(str(exc), param=f"requests.{i}") from exc
        options = item.call_options(project_id)
        call = await service.prepare(principal, messages, options, request_id=f"{rid}_{i}")
        result = await service.complete(call)
    except CCAPIError as exc:
        return {"index": i, "ok": False, "response": None, "error": openai_body(exc)["error"]}
    return {"index": i, "ok": True, "response": completion_body(call, result), "error": None}


@router.post("/v1/batch", response_model=BatchResponse, responses=ERRORS)
async def batch(
    body: BatchRequest,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    service: CompletionsDep,
) -> JSONResponse:
    """Run up to `CCAPI_BATCH_MAX_ITEMS` completions; results come back in request order."""
    limit = services.settings.batch_max_items
    if len(body.requests) > limit:
        raise InvalidRequestError(
            f"A batch holds at most {limit} requests; got {len(body.requests)}.",
            param="requests",
            code="batch_too_large",
        )
    project_id = principal.project_for(body.project_id)
    rid = request_id(request)
    # Never more items in flight than there are workers: the rest wait here, not in the queue.
    gate = asyncio.Semaphore(services.settings.max_workers if body.parallel else 1)

    async def one(i: int, item: BatchItem) -> dict[str, Any]:
        async with gate:
            return await _run_item(service, principal, project_id, rid, i, item)

    async def run_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(i, it) for i, it in enumerate(body.requests))))

    results = await cancel_on_disconnect(request, run_all())
    ok = [r for r in results if r["ok"]]
    payload = {
        "results": results,
        "total_tokens": sum(r["response"]["usage"]["total_tokens"] for r in ok),
        "total_cost": round(sum(r["response"]["usage"]["cost_usd"] for r in ok), 10),
        "succeeded": len(ok),
        "failed": len(results) - len(ok),
    }
    return JSONResponse(payload, headers=extra_headers(request))
