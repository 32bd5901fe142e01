"""The seed's cache API in one object: responses, a request queue and sessions."""

from __future__ import annotations

from typing import Any

from claude_code_api.cache import ResponseCache, SessionStore, backend_from_settings
from claude_code_api.cache.backend import CacheBackend
from claude_code_api.config import Settings
from claude_code_api.domain import CompletionResult
from claude_code_api.remote.queue import WorkQueue

#: Name of the queue behind the seed's ``queue_request``/``dequeue_request``.
SEED_QUEUE = "requests"


class Cache:
    """The seed's API in one object: responses, request queue and sessions.

    Example::

        cache = Cache.from_settings(settings)
        await cache.cache_response("What is 2+2?", result)
        hit = await cache.get_cached_response("What is 2+2?")   # CompletionResult, cached=True
        await cache.close()

    Prompts are cached in the ``project_id`` scope (default ``"default"``). The API layer uses
    :class:`ResponseCache` directly, keyed by the full request (:meth:`ResponseCache.key_for`).
    """

    def __init__(
        self,
        backend: CacheBackend,
        queue: WorkQueue,
        *,
        response_ttl: float = 3600,
        session_ttl: float = 24 * 3600,
    ) -> None:
        self.backend = backend
        self.queue = queue
        self.responses = ResponseCache(backend)
        self.responses.default_ttl = response_ttl
        self.sessions = SessionStore(backend, session_ttl)

    @classmethod
    def from_settings(cls, settings: Settings) -> Cache:
        """Redis-backed when ``redis_url`` is set, in memory otherwise."""
        from claude_code_api.remote import queue_from_settings  # the package imports this module

        return cls(
            backend_from_settings(settings),
            queue_from_settings(settings, name=SEED_QUEUE),
            response_ttl=settings.cache_ttl,
            session_ttl=settings.session_ttl,
        )

    @staticmethod
    def prompt_key(prompt: str, *, project_id: str = "default", model: str = "") -> str:
        """Response-cache key of a bare prompt (one user message, no system prompt)."""
        return ResponseCache.key_for(
            project_id, model, None, [["user", prompt]], None, "chat", None
        )

    async def cache_response(
        self,
        prompt: str,
        response: CompletionResult | str,
        ttl: float = 3600,
        *,
        project_id: str = "default",
    ) -> None:
        """Cache ``response`` for ``prompt`` for ``ttl`` seconds (a str becomes its text)."""
        if isinstance(response, str):
            response = CompletionResult(text=response, model="")
        await self.responses.put(self.prompt_key(prompt, project_id=project_id), response, ttl)

    async def get_cached_response(
        self, prompt: str, *, project_id: str = "default"
    ) -> CompletionResult | None:
        """The cached answer to ``prompt`` (``cached=True``), or None."""
        return await self.responses.get(self.prompt_key(prompt, project_id=project_id))

    async def invalidate(self, prompt: str, *, project_id: str = "default") -> bool:
        """Drop the cached answer to one prompt; True if there was one."""
        return await self.responses.invalidate(self.prompt_key(prompt, project_id=project_id))

    async def invalidate_project(self, project_id: str) -> None:
        """Drop every cached answer of one project."""
        await self.responses.invalidate_project(project_id)

    async def invalidate_all(self) -> None:
        """Drop every cached answer."""
        await self.responses.invalidate_all()

    async def queue_request(self, request_data: dict[str, Any]) -> str:
        """Enqueue a JSON-able request; returns its id. :class:`BusyError` when full."""
        return await self.queue.put(request_data)

    async def dequeue_request(self, *, block: float = 0.0) -> dict[str, Any] | None:
        """The oldest queued request (removed from the queue), or None when empty.

        At-most-once convenience; consumers that must not lose work use ``queue.take`` and
        ``queue.ack`` (as :class:`QueueWorker` does).
        """
        delivery = await self.queue.take("seed-consumer", block=block)
        if delivery is None:
            return None
        await self.queue.ack(delivery)
        return delivery.payload

    async def store_session(self, session_id: str, data: dict[str, Any]) -> None:
        """Save session state (TTL ``session_ttl``, 24 h by default)."""
        await self.sessions.store(session_id, data)

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        """Saved session state, or None."""
        return await self.sessions.get(session_id)

    async def close(self) -> None:
        """Close the backend and the queue."""
        await self.backend.close()
        await self.queue.close()
