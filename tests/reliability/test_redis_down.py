"""Redis stopped mid-run (issue 11, item 3): every use has a documented behaviour, none a 500.

- rate limits: counted in process while Redis is away (limits stay enforced per replica);
- response cache: misses, writes dropped;
- sessions: the turn is answered from the messages sent, history neither read nor saved;
- queue: work that overflows the local pool waits in the local pool's queue (no worker can be
  seen alive), or is refused with 503 ``server_busy`` when that queue is full.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from claude_code_api.app import create_app
from tests.api.conftest import bearer, chat_body, create_key, make_settings, running_app
from tests.cache.conftest import SpareRedis


async def _sweep(client: httpx.AsyncClient, key: str) -> list[int]:
    statuses = [(await client.get("/v1/usage", headers=bearer(key))).status_code]
    route = await client.post("/v1/route", json={"task_description": "hi"}, headers=bearer(key))
    statuses.append(route.status_code)
    count = await client.post(
        "/v1/messages/count_tokens",
        json={"model": "haiku", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(key),
    )
    statuses.append(count.status_code)
    chat = await client.post("/v1/chat/completions", json=chat_body("hi"), headers=bearer(key))
    statuses.append(chat.status_code)
    return statuses


async def test_no_route_fails_while_redis_is_stopped_and_all_recover(
    tmp_path: Path, spare_redis: SpareRedis
) -> None:
    settings = make_settings(tmp_path, redis_url=spare_redis.url, redis_prefix="down")
    async with running_app(settings) as (_app, client):
        key = await create_key(client, "redis-down", rate_limit=1000)
        assert set(await _sweep(client, key)) == {200}
        spare_redis.stop()
        for _ in range(3):
            statuses = await _sweep(client, key)
            assert all(s < 500 for s in statuses), statuses
            assert set(statuses) == {200}
        spare_redis.start()
        for _ in range(100):  # the breakers let a probe through within ~1 s
            if set(await _sweep(client, key)) == {200}:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("did not recover")


async def test_rate_limit_still_enforced_in_process_while_redis_is_down(
    tmp_path: Path, spare_redis: SpareRedis
) -> None:
    settings = make_settings(tmp_path, redis_url=spare_redis.url, redis_prefix="rl")
    async with running_app(settings) as (_app, client):
        key = await create_key(client, "rl-down", rate_limit=3)
        spare_redis.stop()
        statuses = [
            (await client.get("/v1/usage", headers=bearer(key))).status_code for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]


def test_websocket_session_turn_is_answered_while_redis_is_down(
    tmp_path: Path, spare_redis: SpareRedis
) -> None:
    settings = make_settings(tmp_path, redis_url=spare_redis.url, redis_prefix="ws")
    with TestClient(create_app(settings)) as client:
        key = client.post(
            "/admin/keys",
            json={"project_id": "ws-down"},
            headers={"Authorization": "Bearer admin-test-secret"},
        ).json()["key"]
        spare_redis.stop()
        with client.websocket_connect("/v1/stream", headers=bearer(key)) as ws:
            ws.send_json(
                {
                    "type": "chat",
                    "model": "haiku",
                    "session_id": "s1",
                    "messages": [{"role": "user", "content": "hi"}],
                }
            )
            while (frame := ws.receive_json())["type"] == "token":
                pass
            assert frame["type"] == "done", frame
