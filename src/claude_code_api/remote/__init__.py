"""Remote execution: tasks run by a worker process over a shared work queue.

The :class:`DistributedExecutor` sends a task through a :class:`WorkQueue` (Redis streams, or
its in-memory twin) to a :class:`QueueWorker` (a ``claude-code-api worker`` process, or an API
replica's own pool) and streams back its events. This package sits above
:mod:`claude_code_api.cache` (Redis plumbing, key names) and :mod:`claude_code_api.workers` (the
pool that runs the CLI).
"""

from __future__ import annotations

from claude_code_api.config import Settings
from claude_code_api.remote.executor import DistributedExecutor, LocalPool
from claude_code_api.remote.facade import SEED_QUEUE, Cache
from claude_code_api.remote.queue import Delivery, MemoryWorkQueue, WorkQueue
from claude_code_api.remote.redis_queue import RedisWorkQueue
from claude_code_api.remote.worker import QueueWorker

__all__ = [
    "SEED_QUEUE",
    "Cache",
    "Delivery",
    "DistributedExecutor",
    "LocalPool",
    "MemoryWorkQueue",
    "QueueWorker",
    "RedisWorkQueue",
    "WorkQueue",
    "queue_from_settings",
]


def queue_from_settings(settings: Settings, *, name: str = "tasks") -> WorkQueue:
    """:class:`RedisWorkQueue` when ``settings.redis_url`` is set, else its in-memory twin."""
    if settings.redis_url:
        return RedisWorkQueue.from_settings(settings, name=name)
    return MemoryWorkQueue(settings.queue_max, visibility_timeout=settings.visibility_timeout)
