"""Repeated requests answered from the response cache without the web framework.

A cache hit is mostly framework work: FastAPI's routing, dependency solving and body validation,
and this service's own request preparation (validation, conversation building, the cache key)
cost ~200 us of the ~270 us a hit takes in process (bench/api_inprocess.py), for an answer that
is already stored. Clients that repeat a request repeat it byte for byte (the same SDK call
serialises the same way), so this middleware remembers, per surface, the *prepared call* of a
request body that the normal route has answered, and answers the same bytes from the same key
again by looking the stored answer up directly:

1. a POST to a registered path whose body (at most ``MAX_BODY`` bytes) was seen before;
2. the key is authenticated and counted against its rate limit by the same
   :class:`~claude_code_api.auth.Authenticator` as every other request;
3. the prepared call remembered for this (body, key, key's tier cap) is looked up in the
   response cache through the same :meth:`CompletionService.cached` as the route (which writes
   the zero-cost usage row and the cache metrics);
4. the surface's own renderer (the one the route uses) builds the response.

Anything else (a new body, another key, a miss, an expired entry, any error) goes on to the
route unchanged, with the body replayed and, once the key was admitted, the principal handed
over so the rate limit counts the request once. Only calls whose preparation depends on nothing
but the body and the key are remembered: non-streaming, cacheable, an explicit model (``auto``
depends on the project's remaining budget, so it always takes the route). Nothing is
remembered across restarts, and an entry is only a pointer to a response-cache key: what may
be answered, and for how long, stays the response cache's decision.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claude_code_api.application.completions import CompletionCall, CompletionService
from claude_code_api.auth.principal import Principal
from claude_code_api.domain import CompletionResult

#: Bodies longer than this are never remembered (they are rarely repeated verbatim, and the
#: memo holds the bytes): 8 KiB x ``CCAPI_REPEAT_HITS`` entries bounds its memory.
MAX_BODY = 8 * 1024

#: Builds a surface's response for a call and its cached result, with the given headers.
Renderer = Callable[[CompletionCall, CompletionResult, dict[str, str]], Response]

#: ``scope["state"]`` keys shared with the routes (``api/deps.py``).
PRINCIPAL = "ccapi_principal"
REMEMBER = "ccapi_repeatable_call"


def remember_call(scope_state: dict[str, Any], call: CompletionCall) -> None:
    """Called by a route that answered ``call``: remember it if only body and key decide it."""
    if call.cache_key is not None and call.routed is None:
        scope_state[REMEMBER] = call


class RepeatHitMiddleware:
    """Answer repeated, already cached requests before the framework (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        renderers: dict[str, Renderer],
        max_entries: int,
        service: Callable[[Scope], CompletionService | None],
    ) -> None:
        self.app = app
        self.renderers = renderers
        self.max_entries = max_entries
        self._service = service
        # (path, body) -> {(key id, tier cap): prepared call}; least recently used goes first.
        self._memo: collections.OrderedDict[
            tuple[str, bytes], dict[tuple[str, str | None], CompletionCall]
        ] = collections.OrderedDict()
        self._routes: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._memo)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        path = scope.get("path", "")
        renderer = self.renderers.get(path) if scope["type"] == "http" else None
        if renderer is None or scope["method"] != "POST" or self.max_entries <= 0:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        state: dict[str, Any] = scope.setdefault("state", {})
        if complete and len(body) <= MAX_BODY:
            remembered = self._memo.get((path, body))
            if remembered is not None and await self._answer(
                scope, send, (path, body), remembered, renderer, state
            ):
                return
        await self.app(scope, _replay(body, complete, receive), send)
        call = state.pop(REMEMBER, None)
        if isinstance(call, CompletionCall) and complete and len(body) <= MAX_BODY:
            self._remember(path, body, call, state.get(PRINCIPAL))

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        memo_key: tuple[str, bytes],
        remembered: dict[tuple[str, str | None], CompletionCall],
        renderer: Renderer,
        state: dict[str, Any],
    ) -> bool:
        """Serve the stored answer; False (and the principal left in ``state``) otherwise."""
        service = self._service(scope)
        if service is None:
            return False
        try:
            principal, status = await service.s.auth.authenticate(_Headers(scope["headers"]))
        except Exception:  # 401, 429, storage trouble: the route answers it in its own shape
            return False
        state[PRINCIPAL] = (principal, status)
        template = remembered.get((principal.key_id, principal.max_tier))
        if template is None:
            return False
        call = dataclasses.replace(
            template,
            request_id=state.get("request_id", template.request_id),
            cache_hit=False,
            started=time.perf_counter(),
        )
        try:
            result = await service.cached(call)
        except Exception:  # the cache is unreachable: the route answers in its own shape
            return False
        if result is None:
            return False
        self._memo.move_to_end(memo_key)
        service.s.metrics.repeat_hits.inc()
        response = renderer(call, result, status.headers() if status else {})
        scope["route"] = self._route(scope, memo_key[0])
        await response(scope, _no_receive, send)
        return True

    def _remember(self, path: str, body: bytes, call: CompletionCall, admitted: object) -> None:
        if not isinstance(admitted, tuple) or not isinstance(admitted[0], Principal):
            return
        principal: Principal = admitted[0]
        entry = self._memo.setdefault((path, body), {})
        entry[(principal.key_id, principal.max_tier)] = call
        self._memo.move_to_end((path, body))
        while len(self._memo) > self.max_entries:
            self._memo.popitem(last=False)

    def _route(self, scope: Scope, path: str) -> Any:
        """The framework's route object for ``path`` (the request metrics label by it)."""
        route = self._routes.get(path)
        if route is None:
            for candidate in scope["app"].router.routes:
                if getattr(candidate, "path", None) == path and "POST" in getattr(
                    candidate, "methods", ()
                ):
                    route = self._routes[path] = candidate
                    break
        return route


class _Headers(Mapping[str, str]):
    """The request's raw ASGI headers as the read-only mapping the authenticator reads
    (starlette's ``Headers`` would build the same lookups with more machinery)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def __getitem__(self, name: str) -> str:
        wanted = name.lower().encode("latin-1")
        for key, value in self._raw:
            if key == wanted:  # ASGI servers lower-case header names
                return value.decode("latin-1")
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key.decode("latin-1") for key, _ in self._raw)

    def __len__(self) -> int:
        return len(self._raw)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body; ``complete`` is False when the client went away before its end."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the already-read body once, then the real messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            if not complete:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _no_receive() -> Message:  # a plain Response never reads the request
    return {"type": "http.disconnect"}
