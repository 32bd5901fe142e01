"""Authentication (API key → project) and per-key rate limiting for the HTTP API.

Key storage (hashing, generation, revocation) lives in :mod:`claude_code_api.storage.keys`;
this package decides who a request is and how often it may come.
"""

from claude_code_api.auth.principal import Principal
from claude_code_api.auth.ratelimit import RateLimiter, RateLimitStatus

__all__ = ["Principal", "RateLimitStatus", "RateLimiter"]
