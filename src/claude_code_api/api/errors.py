"""Map every failure to OpenAI's error body and the right HTTP status.

Services raise :mod:`claude_code_api.errors`; this module is the one place that turns them into
responses. Validation errors become 400 ``invalid_request_error`` naming the offending field;
unexpected exceptions become a 500 that reveals nothing (the details go to the log with the
request id, never prompts or keys).
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claude_code_api.api.schemas import FORBIDDEN_FIELDS, FUNCTION_CALLING_FIELDS
from claude_code_api.errors import (
    BusyError,
    CCAPIError,
    InvalidRequestError,
    RateLimitedError,
)

log = logging.getLogger("claude_code_api.api")


#: Routes of the Anthropic-compatible API: their errors use Anthropic's error shape.
ANTHROPIC_PREFIX = "/v1/messages"


def error_response(
    exc: CCAPIError, headers: dict[str, str] | None = None, *, anthropic: bool = False
) -> JSONResponse:
    """The JSON response for a domain error, with Retry-After where it applies."""
    out = dict(headers or {})
    if isinstance(exc, RateLimitedError | BusyError):
        out["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    body = exc.to_anthropic() if anthropic else exc.to_openai()
    return JSONResponse(body, status_code=exc.status_code, headers=out)


def _is_anthropic(request: Request) -> bool:
    return request.url.path.startswith(ANTHROPIC_PREFIX)


def validation_error(exc: RequestValidationError | ValidationError) -> InvalidRequestError:
    """Turn pydantic's error list into one clear message naming the first bad field."""
    errors = list(exc.errors())
    if not errors:
        return InvalidRequestError("Invalid request.")
    # The deepest error is the most specific: for a value that matches no branch of a union
    # (a message's content: text or parts) pydantic lists the shallow "not a string" first.
    first = max(errors, key=lambda e: len(e.get("loc", ())))
    loc = [
        str(p)
        for p in first.get("loc", ())
        if p not in ("body", "query", "path") and "[" not in str(p) and p != "str"
    ]
    param = ".".join(loc) or None
    if first.get("type") == "extra_forbidden" and loc:
        field = loc[-1]
        if field in FUNCTION_CALLING_FIELDS:
            return InvalidRequestError(
                f"'{field}' is OpenAI's legacy function calling, which is not supported: use "
                "'tools' (and 'tool_choice') instead.",
                param=param,
                code="unsupported_parameter",
            )
        if field in FORBIDDEN_FIELDS:
            return InvalidRequestError(
                f"'{field}' is not allowed: this service decides how the CLI runs "
                "(working directory, tools, permissions, upstream).",
                param=param,
                code="forbidden_parameter",
            )
        return InvalidRequestError(
            f"Unrecognized request argument supplied: {field}",
            param=param,
            code="unknown_parameter",
        )
    if first.get("type") == "json_invalid":
        return InvalidRequestError("The request body is not valid JSON.", code="invalid_json")
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    where = f" at '{param}'" if param else ""
    return InvalidRequestError(f"Invalid request{where}: {msg}", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""

    @app.exception_handler(CCAPIError)
    async def _domain(request: Request, exc: CCAPIError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning(
                "request %s failed: %s (%s)",
                getattr(request.state, "request_id", "-"),
                type(exc).__name__,
                exc.code,
            )
        return error_response(
            exc, getattr(request.state, "extra_headers", None), anthropic=_is_anthropic(request)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc), anthropic=_is_anthropic(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {
            "error": {
                "message": str(exc.detail),
                "type": "invalid_request_error",
                "param": None,
                "code": kind,
            }
        }
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in request %s", getattr(request.state, "request_id", "-"))
        body = {
            "error": {
                "message": "Internal server error.",
                "type": "api_error",
                "param": None,
                "code": "internal_error",
            }
        }
        return JSONResponse(body, status_code=500)
