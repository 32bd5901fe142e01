"""Authentication (API key → project) and per-key rate limiting, for every API surface.

Key storage (hashing, generation, revocation) lives in :mod:`claude_code_api.storage.keys`;
this package decides who a request is and how often it may come
(:class:`~claude_code_api.auth.authenticate.Authenticator`).
"""

from claude_code_api.auth.authenticate import (
    Authenticator,
    secret_from_frame,
    secret_from_headers,
)
from claude_code_api.auth.keys import resolve_key
from claude_code_api.auth.principal import Principal
from claude_code_api.auth.ratelimit import RateLimiter, RateLimitStatus

__all__ = [
    "Authenticator",
    "Principal",
    "RateLimitStatus",
    "RateLimiter",
    "resolve_key",
    "secret_from_frame",
    "secret_from_headers",
]
