"""Fixtures of the reliability suite: the cache package's backends and spare Redis server."""

from __future__ import annotations

from tests.api.conftest import live_server
from tests.cache.conftest import SpareRedis, backend, spare_redis

__all__ = ["SpareRedis", "backend", "live_server", "spare_redis"]
