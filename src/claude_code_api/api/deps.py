"""FastAPI dependencies as ``Annotated`` aliases, so routes read like signatures."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from claude_code_api.api.completions import CompletionService
from claude_code_api.api.state import Services
from claude_code_api.auth.principal import Principal
from claude_code_api.errors import AuthenticationError, PermissionDeniedError

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


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
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

_INVALID = "Invalid API key. Pass a valid key as 'Authorization: Bearer <key>'."


async def authenticate(request: Request, services: ServicesDep, creds: Credentials) -> Principal:
    """Resolve the bearer key to a principal and count the request against its rate limit.

    Unknown, malformed and revoked keys all get the same 401 so that nothing leaks about
    which keys exist.
    """
    if creds is None or not creds.credentials:
        raise AuthenticationError(
            "Missing API key. Pass it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    secret = creds.credentials.strip()
    admin = services.settings.admin_key
    if admin is not None and hmac.compare_digest(
        secret.encode(), admin.get_secret_value().encode()
    ):
        return Principal(key_id="admin", project_id=None, rate_limit=0, is_admin=True)
    if len(secret) > 256:
        raise AuthenticationError(_INVALID)
    info = await services.keys.authenticate(secret)
    if info is None:
        raise AuthenticationError(_INVALID)
    limit = info.rate_limit or services.settings.default_rate_limit
    status = await services.limiter.hit(info.key_id, limit)
    request.state.extra_headers = status.headers()
    return Principal(key_id=info.key_id, project_id=info.project_id, rate_limit=limit)


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
