"""Stored Responses API responses (``store: true``), one JSON record per response and project.

A record holds the response object as returned, the conversation up to and including its
answer (what ``previous_response_id`` continues), and the project it belongs to. It lives in the
cache backend (memory, or Redis when configured, so every replica sees it) in its own family,
scoped by the project: a lookup names the project, so another project's id is simply unknown.

The scope is the project id percent-encoded (``a:b`` becomes ``a%3Ab``), so it holds no
separator of the backend's key layout and no two (project, id) pairs can meet in one key
whatever separators a project id contains. Ids are checked against their shape (``resp_`` and
32 hex digits) before any lookup.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import quote

from claude_code_api.cache.backend import CacheBackend

#: Backend family of stored responses (distinct from the response cache's ``resp``).
FAMILY = "stored_response"
_ID = re.compile(r"resp_[0-9a-f]{32}")


def new_response_id() -> str:
    """A fresh, unguessable ``resp_...`` id."""
    return "resp_" + secrets.token_hex(16)


def _scope(project_id: str) -> str:
    return quote(project_id, safe="")


class ResponseStore:
    """``put`` / ``get`` / ``delete`` response records of one project; a TTL on each."""

    def __init__(self, backend: CacheBackend, ttl: float) -> None:
        self.backend = backend
        self.ttl = ttl

    async def put(self, project_id: str, response_id: str, record: dict[str, Any]) -> None:
        """Save ``record`` (JSON-serialisable) for ``ttl`` seconds."""
        value = json.dumps({**record, "project_id": project_id}, separators=(",", ":"))
        await self.backend.set(FAMILY, _scope(project_id), response_id, value, self.ttl)

    async def get(self, project_id: str, response_id: str) -> dict[str, Any] | None:
        """The record, or None when unknown, expired, malformed or another project's."""
        if not _ID.fullmatch(response_id):
            return None
        raw = await self.backend.get(FAMILY, _scope(project_id), response_id)
        if raw is None:
            return None
        data = json.loads(raw)
        # Belt and braces: the scope already separates projects.
        if not isinstance(data, dict) or data.get("project_id") != project_id:
            return None
        return data

    async def delete(self, project_id: str, response_id: str) -> bool:
        """Forget a response; True if it existed."""
        if not _ID.fullmatch(response_id):
            return False
        return await self.backend.delete(FAMILY, _scope(project_id), response_id)
