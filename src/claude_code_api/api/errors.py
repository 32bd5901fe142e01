"""The one place that renders a failure, in the error shape of the API that was called.

Services raise :mod:`claude_code_api.errors` (a status, a type and a code; no wire shape). Here
they become OpenAI's ``{"error": {message, type, param, code}}`` on the OpenAI-style routes (and
in WebSocket frames, batch items and chat streams), and Anthropic's
``{"type": "error", "error": {type, message}}`` on every ``/v1/messages`` route, for every
status: domain errors, 400 validation errors, 404/405 from routing, 413 from the body limit and
the opaque 500. Validation errors become 400 ``invalid_request_error`` naming the offending
field; unexpected exceptions become a 500 that reveals nothing (the details go to the log with
the request id, never prompts or keys).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claude_code_api.api.schemas import FORBIDDEN_FIELDS, FUNCTION_CALLING_FIELDS
from claude_code_api.errors import (
    BusyError,
    CCAPIError,
    InternalError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamOverloadedError,
    UpstreamRateLimitError,
)

log = logging.getLogger("claude_code_api.api")


#: Routes of the Anthropic-compatible API: their errors use Anthropic's error shape.
ANTHROPIC_PREFIX = "/v1/messages"

#: An API's error style.
Style = Literal["openai", "anthropic"]

#: Anthropic's error ``type`` by HTTP status (anything else is ``api_error``).
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def openai_body(exc: CCAPIError) -> dict[str, Any]:
    """The body OpenAI clients expect: ``{"error": {message, type, param, code}}``."""
    return {
        "error": {
            "message": exc.message,
            "type": exc.error_type,
            "param": exc.param,
            "code": exc.code,
        }
    }


def anthropic_body(exc: CCAPIError) -> dict[str, Any]:
    """The body Anthropic clients expect: ``{"type": "error", "error": {type, message}}``."""
    kind = _ANTHROPIC_ERROR_TYPES.get(exc.status_code, "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def style_for(path: str) -> Style:
    """The error style of a request path."""
    return "anthropic" if path.startswith(ANTHROPIC_PREFIX) else "openai"


def render(exc: CCAPIError, style: Style) -> dict[str, Any]:
    """An error's body in one API's style."""
    return anthropic_body(exc) if style == "anthropic" else openai_body(exc)


def error_response(
    exc: CCAPIError, headers: dict[str, str] | None = None, *, style: Style = "openai"
) -> JSONResponse:
    """The JSON response for a domain error, with Retry-After where it applies."""
    out = dict(headers or {})
    if isinstance(
        exc, RateLimitedError | BusyError | UpstreamOverloadedError | UpstreamRateLimitError
    ):
        out["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.should_retry is not None:
        out["x-should-retry"] = "true" if exc.should_retry else "false"
    return JSONResponse(render(exc, style), status_code=exc.status_code, headers=out)


def _style(request: Request) -> Style:
    return style_for(request.url.path)


def _routing_error(exc: StarletteHTTPException) -> CCAPIError:
    """A routing failure (404 no such route, 405 wrong method) as a domain error."""
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    err = CCAPIError(str(exc.detail), code=kind)
    err.status_code = exc.status_code
    err.error_type = "invalid_request_error"
    return err


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
            exc, getattr(request.state, "extra_headers", None), style=_style(request)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc), style=_style(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = _routing_error(exc)
        return JSONResponse(render(err, _style(request)), err.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in request %s", getattr(request.state, "request_id", "-"))
        return error_response(InternalError(), style=_style(request))
