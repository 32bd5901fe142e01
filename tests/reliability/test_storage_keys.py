"""Storage keys are unambiguous (issue 11, item 2): no choice of components collides.

Project ids may contain ``:``; session ids, cache keys and task ids come from clients. Keys
built by joining such components with a separator collide (project ``acme`` + session
``fin:s1`` = project ``acme:fin`` + session ``s1``); encoded components never do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from claude_code_api.app import create_app
from claude_code_api.cache import CacheBackend, SessionStore
from claude_code_api.cache.keys import RedisKeys, encode_component
from tests.api.conftest import admin_headers, make_settings


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("acme:fin", "s1"), ("acme", "fin:s1")),
        (("a", "0:b"), ("a:0", "b")),  # the generation counter sits between scope and key
        (("4#x", "y"), ("4", "x:y")),
    ],
)
async def test_backend_entries_with_colliding_joins_stay_apart(
    backend: CacheBackend, first: tuple[str, str], second: tuple[str, str]
) -> None:
    await backend.set("session", *first, '"first"', 60)
    assert await backend.get("session", *second) is None
    await backend.set("session", *second, '"second"', 60)
    assert await backend.get("session", *first) == '"first"'
    await backend.invalidate("session", second[0])
    assert await backend.get("session", *first) == '"first"'


async def test_sessions_are_scoped_by_project(backend: CacheBackend) -> None:
    sessions = SessionStore(backend)
    await sessions.store("s1", {"owner": "acme:fin"}, scope="acme:fin")
    assert await sessions.get("fin:s1", scope="acme") is None
    assert await sessions.get("s1", scope="acme") is None
    assert await sessions.get("s1", scope="acme:fin") == {"owner": "acme:fin"}


def test_every_redis_key_encodes_its_components() -> None:
    keys = RedisKeys("P")
    assert encode_component("acme:fin") == "8#acme:fin"
    assert keys.scope_generation("resp", "a:b") != keys.scope_generation("resp:a", "b")
    assert keys.task_events("x:events") != keys.task_events("x")
    assert len({keys.task_cancel("t:cancel"), keys.task_events("t")}) == 2
    assert keys.tool_run_holder("acme:fin", "c1") != keys.tool_run_holder("acme", "fin:c1")


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[tuple[TestClient, str, str]]:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        keys = [
            client.post(
                "/admin/keys", json={"project_id": project}, headers=admin_headers()
            ).json()["key"]
            for project in ("acme:fin", "acme")
        ]
        yield client, keys[0], keys[1]


def _chat(client: TestClient, key: str, session_id: str, text: str) -> str:
    with client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {key}"}) as ws:
        ws.send_json(
            {
                "type": "chat",
                "model": "haiku",
                "session_id": session_id,
                "messages": [{"role": "user", "content": text}],
            }
        )
        tokens = []
        while (frame := ws.receive_json())["type"] == "token":
            tokens.append(frame["content"])
        assert frame["type"] == "done", frame
        return "".join(tokens)


def test_a_websocket_session_of_one_project_is_invisible_to_another(
    two_projects: tuple[TestClient, str, str], sim_calls: Callable[[], list[dict[str, Any]]]
) -> None:
    client, fin_key, acme_key = two_projects
    _chat(client, fin_key, "s1", "zebracorn ledger")
    reply = _chat(client, acme_key, "fin:s1", "hello there")
    assert "Resumed:" not in reply  # no earlier turns reached the model
    intruder = sim_calls()[-1]["messages"]
    assert "zebracorn" not in json.dumps(intruder)
    again = _chat(client, fin_key, "s1", "second turn")
    assert "zebracorn" in json.dumps(sim_calls()[-1]["messages"])  # the owner keeps its history
    assert again.endswith("Resumed: 2 earlier messages.")
