"""Two API server processes sharing one Redis and one PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ADMIN_KEY, admin_headers, chat_body, free_port
from tests.conftest import REDIS_URL


def _start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).parent / "claude-code-api"
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(cli), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
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
def replicas(
    tmp_path: Path, postgres_database: str, redis_url: str, redis_prefix: str
) -> Iterator[list[str]]:
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
            proc = _start(port, env, log)
            procs.append(proc)
            _wait_ready(url, proc, log)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


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
