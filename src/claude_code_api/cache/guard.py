"""Keeping a dead Redis cheap: a circuit breaker, a rate-limited warning, client settings.

Why a breaker: with Redis down, every cache call would otherwise pay a failed connect (fast on
loopback, up to the connect timeout against a remote host whose packets vanish) and log one
warning per request. After one failure the breaker skips Redis for ``cooldown`` seconds, so a
dead cache costs nothing per request, and the first call after the cooldown probes again: the
service recovers by itself when Redis returns, at most ``cooldown`` seconds later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

#: Seconds to skip Redis after a failure (see the module docstring).
BREAKER_COOLDOWN = 1.0
#: Socket timeouts for cache calls: a hit takes ~0.1 ms on a LAN, so 250 ms means "broken".
CACHE_SOCKET_TIMEOUT = 0.25


class CircuitBreaker:
    """Open (skip the dependency) for ``cooldown`` seconds after each failure."""

    def __init__(
        self, cooldown: float = BREAKER_COOLDOWN, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        """True while calls should be skipped."""
        return self._clock() < self._open_until

    def record_failure(self) -> None:
        """Open the breaker for one cooldown."""
        self._open_until = self._clock() + self.cooldown

    def record_success(self) -> None:
        """Close the breaker."""
        self._open_until = 0.0


class ThrottledLog:
    """Logs a warning at most once per ``interval`` seconds, counting the ones it dropped."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> bool:
        """Log now if the interval has passed (returns True), else count it."""
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return False
        if self.suppressed:
            message += " (%d similar warnings suppressed)"
            args = (*args, self.suppressed)
        self.logger.warning(message, *args)
        self.suppressed = 0
        self._next = now + self.interval
        return True


def make_client(
    url: str, *, socket_timeout: float | None, max_connections: int = 64
) -> aioredis.Redis:
    """A redis-py asyncio client on a bounded blocking connection pool, without retries.

    redis-py retries failed commands three times with backoff by default; here a failure must
    surface at once so the breaker (cache) or the caller (queue) decides what to do.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout or 5.0,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout or 1.0, 1.0),
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


def reraise_if_cancelling(exc: BaseException) -> None:
    """Re-raise cancellation that surfaced as a Redis error, so loops catching them stop.

    A cancel that lands mid-command can come out of redis-py as a connection error; a retry
    loop that catches those would then swallow the cancellation and spin on.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
