"""A lone API replica never strands a request in the queue (issue 11, item 4).

With ``CCAPI_REDIS_URL`` set and no ``worker`` process, work that overflows the local pool
stays local (it waits for a local slot); work queued while a worker looked alive is taken back
once that worker's heartbeat expires (a SIGKILLed worker never withdraws).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from claude_code_api.cache import RedisWorkQueue
from claude_code_api.cache.guard import make_client
from tests.api.conftest import bearer, chat_body, create_key, make_settings, running_app


def _settings(tmp_path: Path, redis_url: str, prefix: str):  # type: ignore[no-untyped-def]
    # start_timeout = 2 * task_timeout + visibility = 12 s: the old behaviour ends in a 504.
    return make_settings(
        tmp_path,
        redis_url=redis_url,
        redis_prefix=prefix,
        max_workers=1,
        task_timeout=5,
        visibility_timeout=2,
    )


async def _two_at_once(client: httpx.AsyncClient, key: str) -> list[int]:
    first = asyncio.create_task(
        client.post(
            "/v1/chat/completions", json=chat_body("[[sim:delay=1.5]] slow"), headers=bearer(key)
        )
    )
    await asyncio.sleep(0.3)  # let the first take the only local slot
    second = await client.post(
        "/v1/chat/completions", json=chat_body("overflow"), headers=bearer(key)
    )
    return [(await first).status_code, second.status_code]


async def test_overflow_without_any_worker_runs_locally(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    async with running_app(_settings(tmp_path, redis_url, redis_prefix)) as (_app, client):
        key = await create_key(client, "lone", rate_limit=100)
        assert await _two_at_once(client, key) == [200, 200]


async def test_work_queued_for_a_worker_that_died_is_taken_back(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = _settings(tmp_path, redis_url, redis_prefix)
    queue = RedisWorkQueue(make_client(redis_url, socket_timeout=3), redis_prefix)
    try:
        async with running_app(settings) as (_app, client):
            key = await create_key(client, "ghost", rate_limit=100)
            # What a worker SIGKILLed a moment ago leaves: a heartbeat that has not expired.
            await queue.announce("ghost-worker", 2.5)
            assert await _two_at_once(client, key) == [200, 200]
            assert await queue.live_consumers() == 0
    finally:
        await queue.close()
