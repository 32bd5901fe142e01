"""The response cache: completed answers keyed by everything that changes them.

Keys are scoped to the project by default, so one tenant never receives another tenant's cached
answer for the same prompt; a caller may opt a request into the shared scope (``shared=True``)
or out of the cache altogether (simply not calling it: ``use_cache=False`` in the API layer).
Entries keep their :class:`~claude_code_api.domain.Usage`, so the caller can report a hit as
``cached=True`` at zero cost while still showing what the original answer took.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from claude_code_api.cache.backend import CacheBackend
from claude_code_api.cache.keys import SHARED_SCOPE, response_digest
from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult, Mode

log = logging.getLogger(__name__)

#: Backend family holding cached responses.
FAMILY = "resp"
_SEP = "|"  # scope|digest; digests are hex, so the last separator splits unambiguously


class ResponseCache:
    """Get/put :class:`CompletionResult` by key, and invalidate one/project/all."""

    def __init__(self, backend: CacheBackend, settings: Settings | None = None) -> None:
        self.backend = backend
        self.default_ttl: float = settings.cache_ttl if settings is not None else 3600

    @staticmethod
    def key_for(
        project_id: str,
        model: str,
        system_prompt: str | None,
        messages: Sequence[Any],
        max_tokens: int | None,
        mode: Mode | str,
        temperature: float | None,
        *,
        shared: bool = False,
    ) -> str:
        """The cache key of a request (pure; no I/O).

        Example: ``key_for("acme", "sonnet", None, [["user", "hi"]], 100, "chat", None)``
        gives ``"acme|<sha256>"``; the same request from another project gives another key.
        """
        digest = response_digest(
            model=model,
            system_prompt=system_prompt,
            messages=messages,
            max_tokens=max_tokens,
            mode=mode.value if isinstance(mode, Mode) else str(mode),
            temperature=temperature,
        )
        return f"{SHARED_SCOPE if shared else project_id}{_SEP}{digest}"

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        scope, sep, digest = key.rpartition(_SEP)
        if not sep or not scope:
            raise ValueError(f"not a response-cache key: {key!r}")
        return scope, digest

    async def get(self, key: str) -> CompletionResult | None:
        """The cached result (with ``cached=True``), or None on a miss or a corrupt entry."""
        scope, digest = self._split(key)
        raw = await self.backend.get(FAMILY, scope, digest)
        if raw is None:
            return None
        try:
            result = CompletionResult.from_dict(json.loads(raw))
        except (ValueError, TypeError) as exc:  # written by an incompatible version: a miss
            log.warning("dropping unreadable cache entry (%s)", type(exc).__name__)
            await self.backend.delete(FAMILY, scope, digest)
            return None
        result.cached = True
        return result

    async def put(self, key: str, result: CompletionResult, ttl: float | None = None) -> None:
        """Store ``result`` (usage included) for ``ttl`` seconds (default ``cache_ttl``)."""
        scope, digest = self._split(key)
        data = result.to_dict()
        data["cached"] = False
        value = json.dumps(data, separators=(",", ":"))
        await self.backend.set(
            FAMILY, scope, digest, value, self.default_ttl if ttl is None else ttl
        )

    async def invalidate(self, key: str) -> bool:
        """Drop one entry; True if it existed."""
        scope, digest = self._split(key)
        return await self.backend.delete(FAMILY, scope, digest)

    async def invalidate_project(self, project_id: str) -> None:
        """Drop every entry cached for ``project_id`` (not the shared scope)."""
        await self.backend.invalidate(FAMILY, project_id)

    async def invalidate_all(self) -> None:
        """Drop every cached response of every project."""
        await self.backend.invalidate(FAMILY)

    async def ping(self) -> bool:
        """Readiness of the underlying store (raises its error when unreachable)."""
        return await self.backend.ping()
