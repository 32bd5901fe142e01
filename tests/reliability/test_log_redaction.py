"""No log level prints a key or a prompt (issue 11, item 10).

A real ``claude-code-api serve --log-level debug`` process with ``CCAPI_LOG_LEVEL=DEBUG`` gets
HTTP requests (bearer and ``x-api-key``), admin calls, and WebSocket sessions authenticated by
header and by an auth frame; then its whole log is scanned for every key and prompt it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import ADMIN_KEY, free_port

PROMPT_MARK = "quokkaprompt"  # a word that appears only in the prompts


@pytest.fixture
def debug_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "CCAPI_DEMO": "true",
        "CCAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "CCAPI_ADMIN_KEY": ADMIN_KEY + "-long-enough",
        "CCAPI_LOG_LEVEL": "DEBUG",
        "CCAPI_WORKDIR_ROOT": str(tmp_path),
        "CCAPI_USAGE_FLUSH_INTERVAL": "0.05",
    }
    exe = Path(sys.executable).parent / "claude-code-api"
    argv = [str(exe), "serve", "--port", str(port), "--log-level", "debug"]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise AssertionError(log_path.read_text())
            yield url, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _ws_chat(ws: ClientConnection, text: str) -> dict[str, object]:
    chat = {"type": "chat", "model": "haiku", "messages": [{"role": "user", "content": text}]}
    ws.send(json.dumps(chat))
    while True:
        frame = json.loads(ws.recv())
        if frame["type"] != "token":
            return dict(frame)


def test_debug_logs_hold_no_key_and_no_prompt(debug_server: tuple[str, Path]) -> None:
    url, log_path = debug_server
    admin = {"Authorization": f"Bearer {ADMIN_KEY}-long-enough"}
    created = httpx.post(f"{url}/admin/keys", json={"project_id": "logs"}, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    chat = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "haiku", "messages": [{"role": "user", "content": f"{PROMPT_MARK} one"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert chat.status_code == 200, chat.text
    messages = httpx.post(
        f"{url}/v1/messages",
        json={
            "model": "haiku",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": f"{PROMPT_MARK} two"}],
        },
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout=60,
    )
    assert messages.status_code == 200, messages.text
    ws_url = url.replace("http", "ws") + "/v1/stream"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert _ws_chat(ws, f"{PROMPT_MARK} three")["type"] == "done"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "api_key": key}))
        assert _ws_chat(ws, f"{PROMPT_MARK} four")["type"] == "done"
    bad = httpx.get(f"{url}/v1/usage", headers={"Authorization": "Bearer ccapi_wrongwrongwrong"})
    assert bad.status_code == 401
    time.sleep(0.5)  # let the server write its last lines (the log is a plain file)
    log = log_path.read_text(errors="replace")
    assert "DEBUG" in log and "/v1/stream" in log  # the debug output is really there
    for secret in (key, key[6:], f"{ADMIN_KEY}-long-enough", "ccapi_wrongwrongwrong"):
        assert secret not in log, f"a key is in the debug log: {secret[:10]}..."
    assert PROMPT_MARK not in log
