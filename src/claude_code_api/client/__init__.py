"""Python client for the Claude Code API Service: sync :class:`ClaudeClient` and async
:class:`AsyncClaudeClient`, built on httpx alone (no server dependency is imported).

    from claude_code_api import ClaudeClient

    with ClaudeClient(base_url="http://localhost:8080", api_key="ccapi_...") as client:
        print(client.complete("Explain async/await").content)
        for token in client.stream("Write a story"):
            print(token, end="")

See ``docs/CLIENT.md`` for the guide.
"""

from __future__ import annotations

from claude_code_api.client._async_client import AsyncClaudeClient
from claude_code_api.client._base import RetryPolicy
from claude_code_api.client._client import ClaudeClient
from claude_code_api.client._exceptions import (
    APIConnectionError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClaudeAPIError,
    ConflictError,
    GatewayTimeoutError,
    InsufficientQuotaError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from claude_code_api.client._streaming import AsyncStream, Stream
from claude_code_api.client._types import (
    BatchItemResult,
    BatchResult,
    Completion,
    ErrorInfo,
    MessageParam,
    Model,
    ModelUsage,
    RouteDecision,
    TokenUsage,
    ToolCall,
    ToolParam,
    Usage,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AsyncClaudeClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BatchItemResult",
    "BatchResult",
    "ClaudeAPIError",
    "ClaudeClient",
    "Completion",
    "ConflictError",
    "ErrorInfo",
    "GatewayTimeoutError",
    "InsufficientQuotaError",
    "InternalServerError",
    "MessageParam",
    "Model",
    "ModelUsage",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "RouteDecision",
    "ServiceUnavailableError",
    "Stream",
    "TokenUsage",
    "ToolCall",
    "ToolParam",
    "Usage",
]
