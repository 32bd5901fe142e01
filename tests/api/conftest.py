"""Fixtures for HTTP API tests: an app on the simulated CLI, in-process or on a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from claude_code_api.app import create_app
from claude_code_api.config import Settings

ADMIN_KEY = "admin-test-secret"
PNG_1X1 = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAIBpfbj+"
    "QAAAABJRU5ErkJggg=="
)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test app: simulated CLI, temp SQLite, in-memory cache and limits."""
    values: dict[str, Any] = {
        "demo": True,
        "database_url": f"sqlite:///{tmp_path / 'test.db'}",
        "admin_key": ADMIN_KEY,
        "task_timeout": 10,
        "max_workers": 4,
        "queue_max": 50,
        "usage_flush_interval": 0.05,
        "shutdown_grace": 2,
        "default_max_tokens": 256,
        "workdir_root": tmp_path / "work",
    }
    values.update(overrides)
    (tmp_path / "work").mkdir(exist_ok=True)
    return Settings(**values)


def cli_settings(request: pytest.FixtureRequest, tmp_path: Path, **extra: Any) -> Settings:
    """Settings for a live server on the CLI a parametrised fixture names: ``"sim"`` (the
    simulated CLI) or ``"real"`` (the real binary on the fake upstream, 60 s task timeout)."""
    overrides: dict[str, Any] = {}
    if request.param == "real":
        request.getfixturevalue("real_cli_env")
        overrides = {"demo": False, "claude_bin": request.getfixturevalue("claude_bin")}
        overrides["task_timeout"] = 60
    return make_settings(tmp_path, **overrides, **extra)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with its lifespan running, and an in-process client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        ) as client:
            yield app, client


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The default test app and client."""
    async with running_app(make_settings(tmp_path)) as pair:
        yield pair


@pytest.fixture
async def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    """Just the client of the default app."""
    return app_client[1]


def admin_headers() -> dict[str, str]:
    """Authorization header for the admin key."""
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


async def create_key(
    client: httpx.AsyncClient, project: str = "proj-a", *, rate_limit: int | None = None
) -> str:
    """Create an API key through the admin API and return its secret."""
    body: dict[str, Any] = {"project_id": project, "name": "test"}
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    response = await client.post("/admin/keys", json=body, headers=admin_headers())
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def bearer(key: str) -> dict[str, str]:
    """Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


async def usage_when(
    client: httpx.AsyncClient,
    key: str,
    ready: Callable[[dict[str, Any]], bool],
    *,
    query: str = "",
    within: float = 10.0,
) -> dict[str, Any]:
    """``GET /v1/usage`` once ``ready(usage)`` holds: usage rows and budget settlements are
    written by batched background flushes, so a test polls instead of sleeping a fixed time."""
    deadline = time.monotonic() + within
    while True:
        usage: dict[str, Any] = (await client.get(f"/v1/usage{query}", headers=bearer(key))).json()
        if ready(usage) or time.monotonic() > deadline:
            return usage
        await asyncio.sleep(0.05)


def chat_body(content: str = "Say hello", **extra: Any) -> dict[str, Any]:
    """A minimal chat completion body."""
    return {"model": "haiku", "messages": [{"role": "user", "content": content}], **extra}


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """uvicorn serving an app on a real loopback socket, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        # Startup (migrations, worker pool) can take many seconds on a loaded machine: poll.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            if not self.thread.is_alive():
                raise RuntimeError("server thread died during startup")
            threading.Event().wait(0.01)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[ServerThread]:
    """The default app served on a real socket."""
    with ServerThread(create_app(make_settings(tmp_path))) as server:
        yield server


def admin_create_key_sync(url: str, project: str = "proj-a", **body: Any) -> str:
    """Create a key against a live server (sync)."""
    response = httpx.post(
        f"{url}/admin/keys", json={"project_id": project, **body}, headers=admin_headers()
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def run(coro: Callable[[], Any]) -> Any:
    """Run an async callable to completion from sync code."""
    return asyncio.run(coro())
