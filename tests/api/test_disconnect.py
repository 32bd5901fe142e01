"""A client that goes away gets its CLI worker killed (and is still charged)."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.api.conftest import ServerThread, admin_create_key_sync, chat_body


def _pids(server: ServerThread) -> dict[str, int]:
    pids: dict[str, int] = server.app.state.services.pool.live_pids()
    return pids


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_client_disconnect_mid_stream_kills_the_worker(live_server: ServerThread) -> None:
    key = admin_create_key_sync(live_server.url, "gone")
    body = chat_body("[[sim:chunk_delay=0.5]] " + "word " * 50, stream=True, cache=False)
    with (
        httpx.Client(base_url=live_server.url, timeout=10) as client,
        client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        next(lines)
        assert _wait_for(lambda: _pids(live_server))
        pids = list(_pids(live_server).values())
    # Leaving the block closed the connection mid-stream.
    assert _wait_for(lambda: not _pids(live_server)), "worker still tracked after disconnect"
    assert _wait_for(lambda: not any(_alive(p) for p in pids)), "CLI process survived"


@pytest.mark.parametrize("path", ["/v1/chat/completions"])
def test_client_disconnect_mid_request_kills_the_worker(
    live_server: ServerThread, path: str
) -> None:
    key = admin_create_key_sync(live_server.url, "impatient")
    with (
        httpx.Client(base_url=live_server.url, timeout=1.0) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(
            path,
            json=chat_body("[[sim:delay=60]] slow", cache=False),
            headers={"Authorization": f"Bearer {key}"},
        )
    # The CLI would run for 60 s: only the disconnect can end it within a few seconds.
    assert _wait_for(lambda: not _pids(live_server), timeout=5), "worker survived disconnect"
