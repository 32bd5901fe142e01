"""Graceful shutdown: SIGTERM lets in-flight requests finish and flushes their usage rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.api.conftest import ADMIN_KEY, admin_headers, chat_body, free_port


def test_sigterm_finishes_in_flight_requests_and_keeps_their_usage(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "shutdown.db"
    env = {
        **os.environ,
        "CCAPI_ADMIN_KEY": ADMIN_KEY,
        "CCAPI_DATABASE_URL": f"sqlite:///{db}",
        "CCAPI_SHUTDOWN_GRACE": "15",
        "CCAPI_USAGE_FLUSH_INTERVAL": "30",  # nothing is flushed before shutdown
        "CCAPI_WORKDIR_ROOT": str(tmp_path),
    }
    cli = Path(sys.executable).parent / "claude-code-api"
    proc = subprocess.Popen(
        [str(cli), "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        created = httpx.post(
            f"{url}/admin/keys", json={"project_id": "bye"}, headers=admin_headers()
        )
        key = created.json()["key"]
        result: dict[str, httpx.Response] = {}

        def slow_request() -> None:
            result["response"] = httpx.post(
                f"{url}/v1/chat/completions",
                json=chat_body("[[sim:delay=2]] finish me", cache=False),
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.8)  # the request is running in the CLI now
        proc.send_signal(signal.SIGTERM)
        thread.join(timeout=30)
        # uvicorn re-raises the signal once shutdown is complete, hence -SIGTERM.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["response"].status_code == 200
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status FROM usage_log WHERE project_id = 'bye'").fetchall()
    assert rows == [("ok",)]
