"""A real service (the app on the simulated CLI, served by uvicorn on a loopback port) for the
client's end-to-end tests. One server per test module keeps the package fast."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ADMIN_KEY = "client-e2e-admin"


class LiveServer:
    """uvicorn serving ``create_app(settings)`` in a thread of this process."""

    def __init__(self, tmp: Path, **overrides: Any) -> None:
        import uvicorn

        from claude_code_api.app import create_app
        from claude_code_api.config import Settings

        (tmp / "work").mkdir(exist_ok=True)
        values: dict[str, Any] = {
            "demo": True,
            "database_url": f"sqlite:///{tmp / 'e2e.db'}",
            "admin_key": ADMIN_KEY,
            "task_timeout": 10,
            "max_workers": 4,
            "usage_flush_interval": 0.05,
            "shutdown_grace": 2,
            "workdir_root": tmp / "work",
            **overrides,
        }
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(Settings(**values)), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        started = threading.Event()
        for _ in range(1000):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                raise RuntimeError("the server thread died during startup")
            started.wait(0.01)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call an admin route with the admin key."""
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def create_key(self, project_id: str, **body: Any) -> str:
        """A new API key for ``project_id`` (created through ``POST /admin/keys``)."""
        response = self.admin("POST", "/admin/keys", json={"project_id": project_id, **body})
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service on the simulated CLI, on a free loopback port."""
    with LiveServer(tmp_path_factory.mktemp("client-e2e")) as live:
        yield live
