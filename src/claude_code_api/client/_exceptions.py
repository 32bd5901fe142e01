"""Errors raised by the client. Every one carries ``message``, ``status_code``, ``code`` and
``request_id`` (quote the request id when reporting a problem to the operator).

```
ClaudeAPIError
├── APIConnectionError              (no HTTP response: refused, reset, DNS)
│   └── APITimeoutError             (the request timed out)
├── APIStreamError                  (an ``error`` event arrived in the middle of a stream)
└── APIStatusError                  (the server answered 4xx/5xx)
    ├── BadRequestError             400 (and 422)
    ├── AuthenticationError         401
    ├── PermissionDeniedError       403
    ├── NotFoundError               404
    ├── ConflictError               409
    ├── PayloadTooLargeError        413
    ├── RateLimitError              429 (``retry_after`` seconds)
    │   └── InsufficientQuotaError  429 with code ``insufficient_quota`` (budget spent)
    └── InternalServerError         5xx
        ├── ServiceUnavailableError 503 (``retry_after``; all workers busy, upstream overloaded)
        └── GatewayTimeoutError     504 (the CLI call timed out)
```

Lower-level ``httpx`` errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any

import httpx

from claude_code_api.client._constants import REQUEST_ID_HEADER

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClaudeAPIError",
    "ConflictError",
    "GatewayTimeoutError",
    "InsufficientQuotaError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
]


class ClaudeAPIError(Exception):
    """Base of every error this client raises."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.insert(0, f"{self.status_code}")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


class APIConnectionError(ClaudeAPIError):
    """The server could not be reached, or the connection broke before a response."""

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request) -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (see the client's ``timeout``)."""

    def __init__(self, *, request: httpx.Request) -> None:
        super().__init__("Request timed out.", request=request)


class APIStreamError(ClaudeAPIError):
    """The server reported an error after a stream had started (headers already sent as 200)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code, request_id=request_id)
        self.type = error_type


class APIStatusError(ClaudeAPIError):
    """The server answered with a 4xx or 5xx status. ``body`` is the decoded JSON, if any."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: Any = None,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=response.status_code,
            code=code,
            request_id=response.headers.get(REQUEST_ID_HEADER),
        )
        self.response = response
        self.body = body
        self.type = error_type
        self.param = param


class BadRequestError(APIStatusError):
    """400 (or 422): the request was malformed; ``param`` names the offending field."""


class AuthenticationError(APIStatusError):
    """401: missing, unknown or revoked API key."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not act on that project."""


class NotFoundError(APIStatusError):
    """404: unknown model, route or resource."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state (retried automatically)."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body or prompt is larger than the server allows."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the server's hint in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InsufficientQuotaError(RateLimitError):
    """429 ``insufficient_quota``: the project's budget cannot cover the request (not retried)."""


class InternalServerError(APIStatusError):
    """5xx: the server or the Claude CLI behind it failed."""


class ServiceUnavailableError(InternalServerError):
    """503: all workers busy or upstream overloaded; ``retry_after`` is the server's hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GatewayTimeoutError(InternalServerError):
    """504: the CLI call ran past the server's task timeout."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: BadRequestError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def _error_fields(body: Any) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped body (``{}`` for anything else)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err
    return {}


def status_error_from_response(
    response: httpx.Response, *, retry_after: float | None = None
) -> APIStatusError:
    """Build the right :class:`APIStatusError` subclass for an error response (already read)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text or None
    err = _error_fields(body)
    code = err.get("code") if isinstance(err.get("code"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else None
    if message is None:
        message = (body if isinstance(body, str) else "") or response.reason_phrase or "Error"
    kwargs: dict[str, Any] = {
        "response": response,
        "body": body,
        "code": code,
        "error_type": err.get("type"),
        "param": err.get("param"),
    }
    status = response.status_code
    if status == 429:
        cls: type[RateLimitError] = (
            InsufficientQuotaError if code == "insufficient_quota" else RateLimitError
        )
        return cls(message, retry_after=retry_after, **kwargs)
    if status == 503:
        return ServiceUnavailableError(message, retry_after=retry_after, **kwargs)
    error_cls = _BY_STATUS.get(status)
    if error_cls is None:
        error_cls = InternalServerError if status >= 500 else APIStatusError
    return error_cls(message, **kwargs)
