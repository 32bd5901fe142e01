"""Two API server processes sharing one Redis and one PostgreSQL database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.api.conftest import ADMIN_KEY, admin_headers, chat_body, free_port
from tests.conftest import REDIS_URL


def _start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).parent / "claude-code-api"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(cli), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90  # a poll bound: startup imports crawl on a loaded machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready: {log.read_text()[-2000:]}")


@pytest.fixture
def replica_set(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_database: str,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """Two server processes (URL, process); ``request.param`` may add variables to each."""
    extra: list[dict[str, str]] = getattr(request, "param", [{}, {}])
    env = {
        **os.environ,
        "CCAPI_REDIS_URL": REDIS_URL,
        "CCAPI_REDIS_PREFIX": redis_prefix,
        "CCAPI_DATABASE_URL": postgres_database,
        "CCAPI_ADMIN_KEY": ADMIN_KEY,
        "CCAPI_USAGE_FLUSH_INTERVAL": "0.05",
        "CCAPI_WORKDIR_ROOT": str(tmp_path),
    }
    procs, urls = [], []
    try:
        for i in range(2):  # one after the other: the first runs the migrations
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = tmp_path / f"server{i}.log"
            proc = _start(port, {**env, **extra[i]}, log)
            procs.append(proc)
            _wait_ready(url, proc, log)
            urls.append(url)
        yield list(zip(urls, procs, strict=True))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def replicas(replica_set: list[tuple[str, subprocess.Popen[bytes]]]) -> list[str]:
    """The base URLs of two server processes sharing Redis and PostgreSQL."""
    return [url for url, _proc in replica_set]


def test_rate_limit_is_shared_by_two_server_processes(replicas: list[str]) -> None:
    a, b = replicas
    created = httpx.post(
        f"{a}/admin/keys",
        json={"project_id": "replicated", "rate_limit": 4},
        headers=admin_headers(),
    )
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    codes = [httpx.get(f"{url}/v1/usage", headers=headers).status_code for url in [a, b] * 4]
    assert codes.count(200) == 4
    assert codes.count(429) == 4


def test_cache_and_usage_are_shared_by_replicas(replicas: list[str]) -> None:
    a, b = replicas
    created = httpx.post(
        f"{a}/admin/keys", json={"project_id": "shared-cache"}, headers=admin_headers()
    )
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    first = httpx.post(f"{a}/v1/chat/completions", json=chat_body("replica q"), headers=headers)
    second = httpx.post(f"{b}/v1/chat/completions", json=chat_body("replica q"), headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-ccapi-cache"] == "miss"
    assert second.headers["x-ccapi-cache"] == "hit"
    time.sleep(0.5)
    usage_a = httpx.get(f"{a}/v1/usage", headers=headers).json()
    usage_b = httpx.get(f"{b}/v1/usage", headers=headers).json()
    assert usage_a["total_tokens"] == usage_b["total_tokens"] > 0


def test_stored_responses_are_continued_across_replicas(
    replicas: list[str], redis_prefix: str
) -> None:
    a, b = replicas
    keys = [
        httpx.post(f"{a}/admin/keys", json={"project_id": p}, headers=admin_headers())
        for p in ("resp:one", "resp")
    ]
    mine, other = ({"Authorization": f"Bearer {k.json()['key']}"} for k in keys)
    first = httpx.post(
        f"{a}/v1/responses", json={"model": "haiku", "input": "Remember 42."}, headers=mine
    )
    assert first.status_code == 200, first.text
    rid = first.json()["id"]
    second = httpx.post(
        f"{b}/v1/responses",
        json={"model": "haiku", "input": "Which number?", "previous_response_id": rid},
        headers=mine,
    )
    assert second.status_code == 200, second.text
    # The stored turn came back from the shared store and reached the CLI as real turns.
    said = second.json()["output"][0]["content"][0]["text"]
    assert "You said: Which number? ." in said and said.endswith("Resumed: 2 earlier messages.")
    assert httpx.get(f"{b}/v1/responses/{rid}", headers=mine).json()["id"] == rid
    assert httpx.get(f"{b}/v1/responses/{rid}", headers=other).status_code == 404
    # In Redis, under the project's encoded scope, with the 30-day default TTL.
    with redis.Redis.from_url(REDIS_URL) as client:
        stored = [k for k in client.scan_iter(match=f"{redis_prefix}*stored_response*{rid}")]
        assert len(stored) == 1 and b"#resp%3Aone:" in stored[0]
        assert 29 * 86400 < client.ttl(stored[0]) <= 30 * 86400


def _tool_turn(url: str, then: str = "") -> tuple[dict[str, str], dict[str, Any]]:
    """A first turn answered by ``url`` with one tool call; the follow-up body and headers."""
    created = httpx.post(f"{url}/admin/keys", json={"project_id": "tools"}, headers=admin_headers())
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    prompt = 'Weather? [[call:get_weather {"city": "Oslo"}]]' + then
    messages = [{"role": "user", "content": prompt}]
    body = {"model": "haiku", "messages": messages, "tools": tools}
    first = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    message = first.json()["choices"][0]["message"]
    assert first.json()["choices"][0]["finish_reason"] == "tool_calls"
    call_id = message["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": "snow, -3 C"}
    return headers, {**body, "messages": [*messages, message, result]}


def _streamed_tool_calls(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
    """The tool calls of a streamed answer, their ids and names as the first deltas give them."""
    calls: list[Any] = []
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                calls += [c for c in delta.get("tool_calls") or [] if c.get("id")]
    return calls


def test_tool_results_sent_to_another_replica_resume_the_run_where_it_waits(
    sim_calls: Callable[[], list[dict[str, Any]]], replicas: list[str]
) -> None:
    # Replica a holds the suspended run; b routes each follow-up to a's directed queue,
    # streamed or not, also when the resumed run suspends again on its next tool step.
    a, b = replicas
    headers, body = _tool_turn(a, then=" [[call2:get_weather]]")
    [call] = _streamed_tool_calls(b, body, headers)
    assert call["function"]["name"] == "get_weather"
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": call["id"], "content": "sun"}
    body["messages"] = [*body["messages"], message, result]
    final = httpx.post(f"{b}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert final.status_code == 200, final.text
    choice = final.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "Tool results: sun"
    assert len(sim_calls()) == 1  # one CLI process answered all three turns: none rebuilt


@pytest.mark.parametrize("replica_set", [[{"CLAUDE_CODE_SIM_CHUNK_DELAY": "1"}, {}]], indirect=True)
def test_tool_results_still_answer_when_the_holding_replica_dies_resuming_the_run(
    sim_calls: Callable[[], list[dict[str, Any]]],
    replica_set: list[tuple[str, subprocess.Popen[bytes]]],
    tmp_path: Path,
) -> None:
    # Replica a (its CLI answers one word a second) dies while it resumes the run for b;
    # b then rebuilds the conversation with the tool turns rendered (docs/API.md, "When the
    # run is gone") instead of waiting for a holder that will never answer.
    (a, holder), (b, _) = replica_set
    headers, body = _tool_turn(a)
    with ThreadPoolExecutor(1) as threads:
        answer = threads.submit(
            httpx.post, f"{b}/v1/chat/completions", json=body, headers=headers, timeout=60
        )
        deadline = time.monotonic() + 30
        while b"running task" not in (tmp_path / "server0.log").read_bytes():
            assert time.monotonic() < deadline and not answer.done()
            time.sleep(0.05)
        holder.kill()
        holder.wait(timeout=10)
        final = answer.result()
    assert final.status_code == 200, final.text
    choice = final.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and "snow, -3 C" in choice["message"]["content"]
    assert len(sim_calls()) == 2  # the follow-up ran again, rebuilt, in a new process
    assert b"is gone: rebuilding" in (tmp_path / "server1.log").read_bytes()
