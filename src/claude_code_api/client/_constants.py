"""Client defaults in one place (the anthropic SDK's values, tuned for CLI-backed calls)."""

from __future__ import annotations

import httpx

#: Where the service listens when neither ``base_url`` nor ``CCAPI_BASE_URL`` is given.
DEFAULT_BASE_URL = "http://localhost:8080"

#: A CLI call may wait in the queue and then run for ``CCAPI_TASK_TIMEOUT`` (30 s by default);
#: two minutes covers both with room to spare, while a dead host is noticed within 5 s.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=5.0)

#: Retries after the first attempt (so at most three requests per call).
DEFAULT_MAX_RETRIES = 2

#: Exponential backoff: 0.5 s, 1 s, 2 s, ... capped at 8 s, each shortened by up to 25 % jitter.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0

#: A ``Retry-After`` longer than this is ignored in favour of the backoff (no minute-long hangs).
MAX_RETRY_AFTER = 60.0

#: Statuses worth retrying: timeout, conflict, rate limit and every server-side failure.
RETRYABLE_STATUSES = frozenset({408, 409, 429})

#: Environment variables read when the constructor arguments are omitted.
ENV_API_KEY = "CCAPI_API_KEY"
ENV_BASE_URL = "CCAPI_BASE_URL"
ENV_PROJECT_ID = "CCAPI_PROJECT_ID"

#: Response header carrying the server's request id (quote it when reporting a problem).
REQUEST_ID_HEADER = "x-request-id"
