"""The one authentication path of every surface: credentials → principal → rate limit.

HTTP routes and the WebSocket read the same credentials (``Authorization: Bearer <key>`` or
Anthropic's ``x-api-key`` header; a WebSocket may instead send ``{"type": "auth", "api_key"}``
as its first frame), resolve them with :func:`~claude_code_api.auth.keys.resolve_key` and count
each request (an HTTP request, a WebSocket ``chat`` message) against the key's per-minute limit.
The admin key is never rate limited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from claude_code_api.auth.keys import resolve_key
from claude_code_api.auth.principal import Principal
from claude_code_api.auth.ratelimit import RateLimiter, RateLimitStatus
from claude_code_api.config import Settings
from claude_code_api.errors import AuthenticationError

if TYPE_CHECKING:
    from claude_code_api.storage import KeyStore

_MISSING = "Missing API key. Pass it as 'Authorization: Bearer <key>' (or 'x-api-key: <key>')."
_NO_AUTH_FRAME = "Send {'type': 'auth', 'api_key': ...} first."


def secret_from_headers(headers: Mapping[str, str]) -> str:
    """The API key a request carries in its headers, or ``""``.

    ``Authorization: Bearer <key>`` first; Anthropic's API (and older anthropic SDKs, curl
    examples) send it as ``x-api-key``.
    """
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        secret = headers.get("x-api-key", "")
    return secret.strip()


def secret_from_frame(frame: object) -> str:
    """The API key of a WebSocket ``{"type": "auth", "api_key": ...}`` frame (401 otherwise)."""
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        raise AuthenticationError(_NO_AUTH_FRAME)
    return str(frame.get("api_key", "")).strip()


class Authenticator:
    """Resolves credentials to a :class:`Principal` and applies the per-key rate limit."""

    def __init__(self, keys: KeyStore, settings: Settings, limiter: RateLimiter) -> None:
        self.keys = keys
        self.settings = settings
        self.limiter = limiter

    async def resolve(self, secret: str) -> Principal:
        """The principal of an API key; 401 for a missing, unknown or revoked key."""
        if not secret:
            raise AuthenticationError(_MISSING, code="missing_api_key")
        return await resolve_key(self.keys, self.settings, secret)

    async def admit(self, principal: Principal) -> RateLimitStatus | None:
        """Count one request against the key's limit (429 past it); ``None`` for the admin."""
        if principal.is_admin:
            return None
        return await self.limiter.hit(principal.key_id, principal.rate_limit)

    async def authenticate(
        self, headers: Mapping[str, str]
    ) -> tuple[Principal, RateLimitStatus | None]:
        """Resolve a request's header credentials and admit it (one HTTP request)."""
        principal = await self.resolve(secret_from_headers(headers))
        return principal, await self.admit(principal)
