"""Fixtures for the cache package: both backends, both queues, and a spare Redis server.

The spare ``redis-server`` runs on its own free port in a temp dir, so tests can stop and
restart it without touching the shared server on 6379.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from claude_code_api.cache import (
    CacheBackend,
    MemoryBackend,
    MemoryWorkQueue,
    RedisBackend,
    RedisWorkQueue,
    WorkQueue,
)
from claude_code_api.cache.guard import make_client


@pytest.fixture(params=["memory", "redis"])
async def backend(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[CacheBackend]:
    """Each contract test runs once per backend (Redis: the real server, a unique prefix)."""
    if request.param == "memory":
        made: CacheBackend = MemoryBackend(1000)
    else:
        made = RedisBackend.from_url(redis_url, redis_prefix)
    yield made
    await made.close()


def make_queue(kind: str, redis_url: str, prefix: str, **options: float) -> WorkQueue:
    """A queue of either kind with the same options."""
    max_length = int(options.pop("max_length", 100))
    visibility = float(options.pop("visibility_timeout", 60.0))
    if kind == "memory":
        return MemoryWorkQueue(max_length, visibility_timeout=visibility)
    client = make_client(redis_url, socket_timeout=5.0)
    return RedisWorkQueue(client, prefix, max_length=max_length, visibility_timeout=visibility)


@pytest.fixture(params=["memory", "redis"])
def queue_kind(request: pytest.FixtureRequest) -> str:
    """``"memory"`` or ``"redis"``: queue tests build their queues with :func:`make_queue`."""
    return str(request.param)


class SpareRedis:
    """A private redis-server that a test may stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("spare redis-server did not start")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then wait)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def spare_redis(tmp_path: Path) -> Iterator[SpareRedis]:
    """A running private Redis server, stopped at the end of the test."""
    server = SpareRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (PID 1 here may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def cli_pids(pidfile: Path) -> list[int]:
    """Wait until the simulated CLI has written "<its pid> <child pid>" (it has started)."""
    while not pidfile.exists() or len(pidfile.read_text().split()) < 2:
        await asyncio.sleep(0.05)
    return [int(pid) for pid in pidfile.read_text().split()]


async def gone(pids: list[int]) -> None:
    """Return once none of ``pids`` is alive (callers bound the wait)."""
    while any(alive(pid) for pid in pids):
        await asyncio.sleep(0.05)


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the shared server, to inspect keys."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
