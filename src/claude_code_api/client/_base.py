"""Everything the clients share that does no I/O: configuration, URLs, headers, request bodies,
response parsing and the retry policy. :class:`ClaudeClient` and :class:`AsyncClaudeClient` add
only the sending (the httpx layout: one base without I/O, two thin I/O subclasses)."""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from claude_code_api.client import _constants as c
from claude_code_api.client._exceptions import (
    APIStatusError,
    ClaudeAPIError,
    status_error_from_response,
)
from claude_code_api.client._types import MessageParam, ToolParam

__all__ = ["RetryPolicy"]

_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying.

    Retried: connection errors, timeouts and responses 408, 409, 429 and 5xx, except a 429 with
    code ``insufficient_quota`` (a spent budget does not come back by waiting). The delay is the
    server's ``Retry-After`` when it sends one of at most ``max_retry_after`` seconds, otherwise
    ``initial_delay * 2**attempt`` capped at ``max_delay`` and shortened by up to 25 % jitter so
    that many clients do not retry in lockstep.
    """

    max_retries: int = c.DEFAULT_MAX_RETRIES
    initial_delay: float = c.INITIAL_RETRY_DELAY
    max_delay: float = c.MAX_RETRY_DELAY
    max_retry_after: float = c.MAX_RETRY_AFTER

    def should_retry(self, response: httpx.Response) -> bool:
        """Whether a (read) error response is worth another attempt."""
        status = response.status_code
        if status == 429 and _error_code(response) == "insufficient_quota":
            return False
        return status in c.RETRYABLE_STATUSES or status >= 500

    def delay(
        self,
        attempt: int,
        response: httpx.Response | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to sleep before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        hint = retry_after_seconds(response) if response is not None else None
        if hint is not None and 0 <= hint <= self.max_retry_after:
            return hint
        backoff = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return backoff * (1.0 - 0.25 * rand())


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date), if valid."""
    headers = response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _tool_choice(choice: str | Mapping[str, Any] | None) -> str | dict[str, Any] | None:
    """``auto``, ``none`` and ``required`` as they are; any other string names one tool."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice  # None, or one of the three strings
    if isinstance(choice, str):
        return {"type": "function", "function": {"name": choice}}
    return dict(choice)


def _env(value: str | None, name: str) -> str | None:
    return value if value is not None else os.environ.get(name) or None


class _BaseClient:
    """Configuration and request building shared by the sync and async clients."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        project_id: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        retry_policy: RetryPolicy | None,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        url = _env(base_url, c.ENV_BASE_URL) or c.DEFAULT_BASE_URL
        # A trailing slash makes relative joins keep a path prefix (``http://host/ccapi/``).
        self.base_url = httpx.URL(url if url.endswith("/") else url + "/")
        self.api_key = _env(api_key, c.ENV_API_KEY)
        self.project_id = _env(project_id, c.ENV_PROJECT_ID)
        self.timeout = c.DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout)
        if retry_policy is None:
            retry_policy = RetryPolicy(max_retries=max_retries)
        self.retry_policy = retry_policy
        self._default_headers = dict(default_headers or {})
        self._urls: dict[str, httpx.URL] = {}

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self.retry_policy.max_retries

    def __repr__(self) -> str:
        # The key never appears in reprs or logs.
        name = type(self).__name__
        return f"{name}(base_url={str(self.base_url)!r}, project_id={self.project_id!r})"

    # --- headers and bodies ----------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"claude-code-api-client/{_VERSION}",
            **self._default_headers,
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _project(self, project_id: str | None) -> str | None:
        return project_id if project_id is not None else self.project_id

    @staticmethod
    def _messages(prompt: str | Sequence[MessageParam], system: str | None) -> list[MessageParam]:
        """A prompt string becomes one user message; ``system`` goes first."""
        if isinstance(prompt, str):
            messages: list[MessageParam] = [{"role": "user", "content": prompt}]
        else:
            messages = [dict(m) for m in prompt]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return messages

    def _chat_body(
        self,
        prompt: str | Sequence[MessageParam],
        *,
        model: str,
        max_tokens: int | None,
        system: str | None,
        temperature: float | None,
        project_id: str | None,
        cache: bool,
        stream: bool,
        extra: Mapping[str, Any] | None,
        tools: Sequence[ToolParam] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": self._messages(prompt, system)}
        optional = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "project_id": self._project(project_id),
            "tools": [dict(t) for t in tools] if tools else None,
            "tool_choice": _tool_choice(tool_choice),
            "parallel_tool_calls": parallel_tool_calls,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if not cache:
            body["cache"] = False
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(extra or {})
        return body

    def _batch_body(
        self,
        prompts: Sequence[str | Mapping[str, Any]],
        *,
        model: str,
        parallel: bool,
        max_tokens: int | None,
        system: str | None,
        project_id: str | None,
    ) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for p in prompts:
            item: dict[str, Any] = {"prompt": p} if isinstance(p, str) else dict(p)
            item.setdefault("model", model)
            if max_tokens is not None:
                item.setdefault("max_tokens", max_tokens)
            if system is not None and "messages" not in item:
                item.setdefault("system", system)
            items.append(item)
        body: dict[str, Any] = {"requests": items, "parallel": parallel}
        project = self._project(project_id)
        if project is not None:
            body["project_id"] = project
        return body

    def _usage_params(self, period: str, project_id: str | None) -> dict[str, str]:
        params = {"period": period}
        project = self._project(project_id)
        if project is not None:
            params["project_id"] = project
        return params

    def _url(self, path: str) -> httpx.URL:
        """Absolute URL of an endpoint (cached: URL parsing is most of a call's client cost)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url.join(path.lstrip("/"))
        return url

    # --- responses -------------------------------------------------------------------------
    def _build_request(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Request:
        headers = self._headers()
        if stream:
            headers["Accept"] = "text/event-stream"
        return client.build_request(
            method,
            self._url(path),
            json=json,
            params=params,
            headers=headers,
            timeout=self.timeout,
        )

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        """The JSON body of a successful response; anything else is the server's fault."""
        try:
            return response.json()
        except ValueError as exc:
            raise ClaudeAPIError(
                "The server answered with a body that is not JSON.",
                status_code=response.status_code,
                request_id=response.headers.get(c.REQUEST_ID_HEADER),
            ) from exc

    @staticmethod
    def _make_status_error(response: httpx.Response) -> APIStatusError:
        return status_error_from_response(response, retry_after=retry_after_seconds(response))
