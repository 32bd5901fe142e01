"""FastAPI dependencies as ``Annotated`` aliases, so routes read like signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from claude_code_api.api.repeat_hits import PRINCIPAL
from claude_code_api.application.completions import CompletionService
from claude_code_api.application.services import Services
from claude_code_api.auth.principal import Principal
from claude_code_api.auth.ratelimit import RateLimitStatus
from claude_code_api.errors import PermissionDeniedError


async def get_services(request: Request) -> Services:
    """The app's services (built by the lifespan)."""
    services: Services = request.app.state.services
    return services


async def get_completions(request: Request) -> CompletionService:
    """The app's completion pipeline."""
    service: CompletionService = request.app.state.completions
    return service


ServicesDep = Annotated[Services, Depends(get_services)]
CompletionsDep = Annotated[CompletionService, Depends(get_completions)]


async def authenticate(request: Request) -> Principal:
    """Resolve the request's API key (``Authorization: Bearer`` or ``x-api-key``) and count
    the request against its key's rate limit (``auth.Authenticator``, shared with the
    WebSocket).

    It reads the headers itself and takes no sub-dependencies: each dependency FastAPI solves
    costs tens of microseconds on the hottest path (a cache hit). The OpenAPI security scheme
    is declared in ``app.py`` instead.
    """
    state = request.scope.setdefault("state", {})
    admitted = state.get(PRINCIPAL)
    if admitted is None:  # else api/repeat_hits.py admitted it already (counted once)
        services: Services = request.app.state.services
        admitted = state[PRINCIPAL] = await services.auth.authenticate(request.headers)
    principal: Principal = admitted[0]
    status: RateLimitStatus | None = admitted[1]
    if status is not None:
        request.state.extra_headers = status.headers()
    return principal


async def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """Only the operator's admin key (``CCAPI_ADMIN_KEY``) passes."""
    if not principal.is_admin:
        raise PermissionDeniedError("This route needs the admin key.")
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]
AdminDep = Annotated[Principal, Depends(require_admin)]


def request_id(request: Request) -> str:
    """The id the middleware assigned to this request."""
    rid: str = request.scope.get("state", {}).get("request_id", "req_unknown")
    return rid


def extra_headers(request: Request) -> dict[str, str]:
    """Headers gathered by dependencies (rate limit status) for the response."""
    headers: dict[str, str] = getattr(request.state, "extra_headers", None) or {}
    return headers
