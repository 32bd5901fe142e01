"""One exception tree for the whole service: each error's status, type and code.

The HTTP layer (``api/errors.py``) renders them in the caller's API style (OpenAI's or
Anthropic's error body); nothing here knows a wire shape.

```
CCAPIError                      (500 api_error)
├── InternalError               (500 internal_error: an unexpected failure, details logged)
├── InvalidRequestError         (400 invalid_request_error)
│   └── PayloadTooLargeError    (413)
├── AuthenticationError         (401)
├── PermissionDeniedError       (403)
├── NotFoundError               (404)
├── RateLimitedError            (429 rate_limit_exceeded, retry_after)
├── BudgetExceededError         (429 insufficient_quota)
├── BusyError                   (503 server_busy, retry_after)
├── StorageUnavailableError     (503; budgets fail closed)
├── TaskTimeoutError            (504)
└── CLIError                    (502 cli_error; stderr summary in .detail, never secrets)
    ├── CLINotFoundError        (binary missing)
    ├── CLIExitError            (non-zero exit, no result event)
    ├── CLIOutputError          (malformed / oversized output, missing final result)
    ├── TaskCancelledError      (killed by kill() or client disconnect)
    ├── WorkerLostError         (worker died or was reaped by the health monitor)
    └── CLIResultError          (`is_error: true` result)
        ├── UpstreamOverloadedError   (529 / overloaded_error)
        ├── UpstreamRateLimitError    (429 from Anthropic)
        ├── UpstreamAuthError         (401/403, not logged in, bad key)
        └── CLIBudgetCapError         (subtype error_max_budget_usd)
```

Services raise these; they never raise ``HTTPException``.

``should_retry`` (None: let the client decide by status) becomes the ``x-should-retry``
response header that the openai and anthropic SDKs obey before their own status rules: a spent
budget or a CLI that is not logged in will not get better by sending the request again.
"""

from __future__ import annotations


class CCAPIError(Exception):
    """Base of every error the service raises on purpose."""

    status_code: int = 500
    error_type: str = "api_error"
    code: str | None = None
    #: ``x-should-retry`` header value (None: no header; see the module docstring).
    should_retry: bool | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InternalError(CCAPIError):
    """An unexpected failure; the message reveals nothing (details go to the log)."""

    code = "internal_error"

    def __init__(self, message: str = "Internal server error.") -> None:
        super().__init__(message)


class InvalidRequestError(CCAPIError):
    """The request is malformed or asks for something the service refuses to do."""

    status_code = 400
    error_type = "invalid_request_error"


class PayloadTooLargeError(InvalidRequestError):
    """The request body (or prompt) is larger than allowed."""

    status_code = 413
    code = "request_too_large"


class AuthenticationError(CCAPIError):
    """Missing, malformed, unknown or revoked API key."""

    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(CCAPIError):
    """A valid key asked for another project's resources."""

    status_code = 403
    error_type = "permission_error"
    code = "forbidden"


class NotFoundError(CCAPIError):
    """The named resource (task, key, project, route) does not exist."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class RateLimitedError(CCAPIError):
    """Too many requests for this key; retry after ``retry_after`` seconds."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float = 1.0, limit: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class BudgetExceededError(CCAPIError):
    """The project's budget cannot cover this request's estimate."""

    status_code = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"
    should_retry = False


class BusyError(CCAPIError):
    """All workers are busy and the queue is full."""

    status_code = 503
    error_type = "server_busy"
    code = "server_busy"

    def __init__(
        self,
        message: str = "All workers are busy and the queue is full; retry later.",
        *,
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageUnavailableError(CCAPIError):
    """The budget/usage store cannot be written; requests are refused (fail closed)."""

    status_code = 503
    error_type = "api_error"
    code = "storage_unavailable"


class TaskTimeoutError(CCAPIError):
    """A CLI call ran past its timeout and was killed with its process group."""

    status_code = 504
    error_type = "timeout"
    code = "timeout"


class CLIError(CCAPIError):
    """The Claude CLI failed. ``detail`` holds a short, secret-free stderr summary."""

    status_code = 502
    error_type = "api_error"
    code = "cli_error"

    def __init__(self, message: str, *, detail: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.detail = detail


class CLINotFoundError(CLIError):
    """The configured ``claude`` executable does not exist or is not executable."""

    code = "cli_not_found"
    should_retry = False


class CLIExitError(CLIError):
    """The CLI exited non-zero without a usable result."""

    code = "cli_exit"

    def __init__(self, message: str, *, returncode: int | None = None, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.returncode = returncode


class CLIOutputError(CLIError):
    """The CLI's output was malformed, oversized, or had no final ``result`` event."""

    code = "cli_bad_output"


class TaskCancelledError(CLIError):
    """The task was killed (``kill()``, client disconnect, shutdown)."""

    code = "cancelled"


class WorkerLostError(CLIError):
    """The worker running the task died or was reaped as stuck."""

    code = "worker_lost"


class CLIResultError(CLIError):
    """The CLI printed a result with ``is_error: true``."""

    code = "cli_result_error"

    def __init__(
        self,
        message: str,
        *,
        subtype: str = "",
        api_error_status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, detail=detail)
        self.subtype = subtype
        self.api_error_status = api_error_status


class UpstreamOverloadedError(CLIResultError):
    """Anthropic answered overloaded (HTTP 529): 503 with ``Retry-After``."""

    status_code = 503
    code = "upstream_overloaded"
    #: Seconds a client should wait (the CLI does not pass the upstream's own hint on).
    retry_after: float = 5.0


class UpstreamRateLimitError(CLIResultError):
    """Anthropic rate-limited the CLI (HTTP 429): 503 with ``Retry-After``."""

    status_code = 503
    code = "upstream_rate_limited"
    retry_after: float = 10.0


class UpstreamAuthError(CLIResultError):
    """The CLI is not logged in or its API key was rejected."""

    code = "upstream_auth"
    should_retry = False


class CLIBudgetCapError(CLIResultError):
    """``--max-budget-usd`` was reached (agent mode only)."""

    code = "cli_budget_cap"
    should_retry = False
