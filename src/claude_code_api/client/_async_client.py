"""``AsyncClaudeClient``: the asynchronous client (I/O on top of :class:`_BaseClient`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from claude_code_api.client import _constants as c
from claude_code_api.client._base import RetryPolicy, _BaseClient
from claude_code_api.client._exceptions import APIConnectionError, APITimeoutError
from claude_code_api.client._streaming import AsyncStream, text_delta
from claude_code_api.client._types import (
    BatchResult,
    Completion,
    MessageParam,
    Model,
    RouteDecision,
    ToolParam,
    Usage,
)

__all__ = ["AsyncClaudeClient"]


class AsyncClaudeClient(_BaseClient):
    """Asynchronous client for the Claude Code API Service (same methods as ClaudeClient).

    >>> client = AsyncClaudeClient(base_url="http://localhost:8080", api_key="ccapi_...")
    >>> print((await client.complete("Explain async/await", model="auto")).content)

    ``base_url``, ``api_key`` and ``project_id`` fall back to ``CCAPI_BASE_URL``,
    ``CCAPI_API_KEY`` and ``CCAPI_PROJECT_ID``. Failed calls are retried ``max_retries`` times
    (a ``retry_policy``, if given, replaces ``max_retries``); errors are
    :class:`ClaudeAPIError` subclasses. ``transport`` is
    passed to httpx (e.g. ``httpx.MockTransport`` in tests), or pass a ready ``http_client``.
    Use it as an async context manager, or ``await client.close()``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        project_id: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = c.DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            project_id=project_id,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(transport=transport, timeout=self.timeout)

    # --- I/O -------------------------------------------------------------------------------
    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx response or raise the mapped error."""
        policy = self.retry_policy
        attempt = 0
        while True:
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt < policy.max_retries:
                    await asyncio.sleep(policy.delay(attempt))
                    attempt += 1
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise APITimeoutError(request=request) from exc
                raise APIConnectionError(f"Connection error: {exc}", request=request) from exc
            if response.is_success:
                return response
            await response.aread()
            await response.aclose()
            if attempt < policy.max_retries and policy.should_retry(response):
                await asyncio.sleep(policy.delay(attempt, response))
                attempt += 1
                continue
            raise self._make_status_error(response)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        request = self._build_request(self._client, method, path, json=json, params=params)
        return await self._send(request)

    # --- API -------------------------------------------------------------------------------
    async def chat(
        self,
        messages: Sequence[MessageParam],
        model: str = "auto",
        *,
        max_tokens: int | None = None,
        system: str | None = None,
        temperature: float | None = None,
        project_id: str | None = None,
        cache: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        tools: Sequence[ToolParam] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> Completion:
        """Complete a conversation (``POST /v1/chat/completions``).

        ``model`` is ``auto`` (the server routes by task), ``haiku``, ``sonnet``, ``opus`` or a
        full model id; ``cache=False`` bypasses the response cache; ``extra_body`` is merged
        into the request body for fields this client does not know yet.

        ``tools`` (OpenAI's function tools) may be called by the model: the answer then has
        ``finish_reason == "tool_calls"`` and typed :attr:`Completion.tool_calls`; append
        :attr:`Completion.message` and one :meth:`ToolCall.result` per call to ``messages`` and
        call again. ``tool_choice`` is ``auto``, ``none``, ``required`` or a tool's name;
        ``parallel_tool_calls=False`` asks for at most one call per turn.
        """
        body = self._chat_body(
            messages, model=model, max_tokens=max_tokens, system=system,
            temperature=temperature, project_id=project_id, cache=cache, stream=False,
            extra=extra_body, tools=tools, tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
        )  # fmt: skip
        response = await self._request("POST", "/v1/chat/completions", json=body)
        return Completion.from_dict(self._decode(response), response.headers)

    async def complete(
        self,
        prompt: str,
        model: str = "auto",
        *,
        max_tokens: int | None = None,
        system: str | None = None,
        temperature: float | None = None,
        project_id: str | None = None,
        cache: bool = True,
    ) -> Completion:
        """Answer one prompt: :meth:`chat` with a single user message."""
        return await self.chat(
            [{"role": "user", "content": prompt}], model, max_tokens=max_tokens,
            system=system, temperature=temperature, project_id=project_id, cache=cache,
        )  # fmt: skip

    def stream(
        self,
        prompt: str | Sequence[MessageParam],
        model: str = "auto",
        *,
        max_tokens: int | None = None,
        system: str | None = None,
        temperature: float | None = None,
        project_id: str | None = None,
        cache: bool = True,
        tools: Sequence[ToolParam] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> AsyncStream[str]:
        """Stream the answer to a prompt or a conversation as text pieces.

        Not a coroutine: write ``async for token in client.stream(...)``. The request is sent
        on first iteration. After the loop the stream knows ``usage``, ``model``,
        ``finish_reason`` and ``request_id``; :meth:`AsyncStream.get_final_completion`
        returns it all as a :class:`Completion`. With ``tools``, the stream's ``tool_calls``
        (and the final completion's) hold the calls, assembled from their deltas.
        """
        body = self._chat_body(
            prompt, model=model, max_tokens=max_tokens, system=system,
            temperature=temperature, project_id=project_id, cache=cache, stream=True, extra=None,
            tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
        )  # fmt: skip

        async def opener() -> httpx.Response:
            request = self._build_request(
                self._client, "POST", "/v1/chat/completions", json=body, stream=True
            )
            return await self._send(request, stream=True)

        return AsyncStream(opener, text_delta)

    async def batch(
        self,
        prompts: Sequence[str | Mapping[str, Any]],
        *,
        model: str = "auto",
        parallel: bool = True,
        max_tokens: int | None = None,
        system: str | None = None,
        project_id: str | None = None,
    ) -> BatchResult:
        """Run many prompts in one request (``POST /v1/batch``); each succeeds or fails alone.

        Items are prompt strings or dicts (``{"prompt": ..., "model": ...}`` or
        ``{"messages": [...]}``); ``model``/``max_tokens``/``system`` fill what an item omits.
        """
        body = self._batch_body(
            prompts, model=model, parallel=parallel, max_tokens=max_tokens, system=system,
            project_id=project_id,
        )  # fmt: skip
        response = await self._request("POST", "/v1/batch", json=body)
        return BatchResult.from_dict(self._decode(response), response.headers)

    async def get_usage(self, period: str = "month", *, project_id: str | None = None) -> Usage:
        """Usage of the project over ``day``, ``week``, ``month`` or ``all`` (``GET /v1/usage``)."""
        response = await self._request(
            "GET", "/v1/usage", params=self._usage_params(period, project_id)
        )
        return Usage.from_dict(self._decode(response))

    async def route(
        self,
        task_description: str,
        context_size: int = 0,
        *,
        budget_remaining: int | None = None,
    ) -> RouteDecision:
        """Ask which model the router would pick for a task, and why (``POST /v1/route``)."""
        body: dict[str, Any] = {"task_description": task_description, "context_size": context_size}
        if budget_remaining is not None:
            body["budget_remaining"] = budget_remaining
        response = await self._request("POST", "/v1/route", json=body)
        return RouteDecision.from_dict(self._decode(response))

    async def models(self) -> list[Model]:
        """The model names the service accepts (``GET /v1/models``)."""
        response = await self._request("GET", "/v1/models")
        return [Model.from_dict(m) for m in self._decode(response).get("data") or []]

    # --- lifecycle -------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncClaudeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
