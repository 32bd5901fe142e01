"""Key lookup: a secret → the admin principal or a project key's principal."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from claude_code_api.auth.principal import Principal
from claude_code_api.config import Settings
from claude_code_api.errors import AuthenticationError

if TYPE_CHECKING:
    from claude_code_api.storage import KeyStore

_INVALID = "Invalid API key. Pass a valid key as 'Authorization: Bearer <key>'."


async def resolve_key(keys: KeyStore, settings: Settings, secret: str) -> Principal:
    """The principal for a bearer secret: the admin key, or a project's API key.

    Unknown, malformed and revoked keys all get the same 401 so that nothing leaks about
    which keys exist. Shared by HTTP routes and the WebSocket endpoint.
    """
    admin = settings.admin_key
    if admin is not None and hmac.compare_digest(
        secret.encode(), admin.get_secret_value().encode()
    ):
        return Principal(key_id="admin", project_id=None, rate_limit=0, is_admin=True)
    info = await keys.authenticate(secret) if 0 < len(secret) <= 256 else None
    if info is None:
        raise AuthenticationError(_INVALID)
    limit = info.rate_limit or settings.default_rate_limit
    return Principal(
        key_id=info.key_id, project_id=info.project_id, rate_limit=limit, max_tier=info.max_tier
    )
