"""Session state (e.g. a WebSocket conversation) as JSON objects with a TTL (24 h default).

Sessions are scoped: the API stores a project's sessions under ``scope=<project id>``, and the
backend keeps scope and session id apart (a tuple in memory, length-prefixed components in
Redis), so no choice of project id and session id can reach another project's session.
"""

from __future__ import annotations

import json
from typing import Any

from claude_code_api.cache.backend import CacheBackend

#: Backend family holding sessions.
FAMILY = "session"
#: Scope of sessions stored without one (the seed's ``store_session``).
DEFAULT_SCOPE = "-"


class SessionStore:
    """``store`` / ``get`` / ``delete`` session dicts; each write restarts the TTL."""

    def __init__(self, backend: CacheBackend, ttl: float = 24 * 3600) -> None:
        self.backend = backend
        self.ttl = ttl

    async def store(
        self,
        session_id: str,
        data: dict[str, Any],
        ttl: float | None = None,
        *,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        """Save ``data`` (JSON-serialisable) under ``session_id`` in ``scope``."""
        value = json.dumps(data, separators=(",", ":"))
        await self.backend.set(FAMILY, scope, session_id, value, self.ttl if ttl is None else ttl)

    async def get(self, session_id: str, *, scope: str = DEFAULT_SCOPE) -> dict[str, Any] | None:
        """The saved dict, or None when unknown or expired."""
        raw = await self.backend.get(FAMILY, scope, session_id)
        if raw is None:
            return None
        data = json.loads(raw)
        return data if isinstance(data, dict) else None

    async def delete(self, session_id: str, *, scope: str = DEFAULT_SCOPE) -> bool:
        """Forget a session; True if it existed."""
        return await self.backend.delete(FAMILY, scope, session_id)
