"""docs/API.md's WebSocket session, replayed: the frames have the documented shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from claude_code_api.app import create_app
from tests.api.conftest import admin_headers, make_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def documented_frames() -> list[tuple[str, dict[str, Any]]]:
    section = DOC.read_text().split("## WebSocket `/v1/stream`", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    frames = []
    for line in block.splitlines():
        direction, _, payload = line.partition(" ")
        assert direction in ("→", "←"), line
        frames.append((direction, json.loads(payload)))
    return frames


def shape(value: Any) -> Any:
    """The keys of ``value``, recursively (what the doc promises; values are examples)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__ if isinstance(value, bool) else None


def test_the_documented_session_replays(tmp_path: Path) -> None:
    frames = documented_frames()
    assert sum(d == "→" for d, _ in frames) >= 3
    with TestClient(create_app(make_settings(tmp_path))) as client:
        created = client.post("/admin/keys", json={"project_id": "doc"}, headers=admin_headers())
        key = created.json()["key"]
        with client.websocket_connect("/v1/stream") as ws:
            expected: list[dict[str, Any]] = []
            for direction, frame in [*frames, ("→", {})]:
                if direction == "←":
                    expected.append(frame)
                    continue
                if expected:  # the answer to the previous frame: tokens, then done or error
                    received = [ws.receive_json()]
                    while received[-1]["type"] == "token":
                        received.append(ws.receive_json())
                    assert received[-1]["type"] == expected[-1]["type"]
                    assert shape(received[-1]) == shape(expected[-1])
                    for token in received[:-1]:
                        assert shape(token) == shape(expected[0])
                    expected = []
                if frame:
                    sent = {**frame, "api_key": key} if frame["type"] == "auth" else frame
                    ws.send_json(sent)
