"""Tasks with earlier turns: the rebuilt session file, ``--resume`` on the simulated CLI, the
queue form of a history, and the sweep of what a killed worker left."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_code_api.config import Settings
from claude_code_api.domain import Image, Message, TaskRequest, ToolCall
from claude_code_api.workers import CLIRunner, orphans
from claude_code_api.workers.session_file import records, sessions_dir, write_session
from tests.workers.conftest import workdirs

HISTORY = [
    Message("user", ("Look: ", Image({"type": "url", "url": "https://x.test/a.png"}))),
    Message("assistant", ("Checking.",), tool_calls=(ToolCall("call_1", "lookup", {"q": 1}),)),
    Message("tool", ("found",), tool_call_id="call_1"),
    Message("tool", ("boom",), tool_call_id="call_1b", is_error=True),
    Message("assistant", ("Done.",)),
]


def test_records_chain_every_turn_with_its_own_assistant_id() -> None:
    rows = records(HISTORY, "sid")
    assert [r["type"] for r in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[0]["parentUuid"] is None
    assert [r["parentUuid"] for r in rows[1:]] == [r["uuid"] for r in rows[:-1]]
    assert all(r["timestamp"] and r["sessionId"] == "sid" for r in rows)
    assert rows[0]["message"]["content"] == [
        {"type": "text", "text": "Look: [image]"},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
    ]
    ids = [r["message"]["id"] for r in rows if r["type"] == "assistant"]
    assert len(set(ids)) == 2  # the CLI merges assistant records that share an id
    # One round of results is one user message of tool_result blocks.
    found, boom = ([{"type": "text", "text": t}] for t in ("found", "boom"))
    assert rows[2]["message"]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": found},
        {"type": "tool_result", "tool_use_id": "call_1b", "content": boom, "is_error": True},
    ]


def test_a_history_survives_the_queue() -> None:
    task = TaskRequest(prompt="next", history=list(HISTORY))
    again = TaskRequest.from_dict(json.loads(json.dumps(task.to_dict())))
    assert again.history == HISTORY


async def test_the_simulated_cli_resumes_the_rebuilt_session(
    settings: Settings, sim_calls: Callable[[], list[dict[str, Any]]]
) -> None:
    runner = CLIRunner(settings)
    history = [Message.of("user", "My name is Ada."), Message.of("assistant", "Hello Ada.")]
    result = await runner.run(TaskRequest(prompt="Who am I?", model="haiku", history=history))
    assert result.text.endswith("Resumed: 2 earlier messages.")
    assert [m["role"] for m in sim_calls()[-1]["messages"]] == ["user", "assistant", "user"]
    assert workdirs(settings) == []
    assert not list(sessions_dir({}, settings.workdir_root or "/").parent.glob("*ccapi-task*"))


def test_the_simulated_cli_refuses_a_file_the_real_one_refuses(
    tmp_path: Path, sim_cli: str
) -> None:
    """Like the real CLI 2.1.197: records without ``timestamp`` are "No conversation found"."""
    env = {**os.environ, "HOME": str(tmp_path)}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    session_id, directory = write_session(
        [Message.of("user", "hi"), Message.of("assistant", "hello")], env=env, cwd=cwd
    )
    argv = [sim_cli, "-p", "--output-format", "json", "--resume", session_id]
    done = subprocess.run(argv, input="again", capture_output=True, text=True, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"].endswith("Resumed: 2 earlier messages.")
    path = directory / f"{session_id}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    stripped = [{k: v for k, v in r.items() if k != "timestamp"} for r in rows]
    path.write_text("".join(json.dumps(r) + "\n" for r in stripped))
    done = subprocess.run(argv, input="again", capture_output=True, text=True, cwd=cwd, env=env)
    assert done.returncode == 1
    assert f"No conversation found with session ID: {session_id}" in done.stderr


def test_the_sweep_removes_the_session_of_a_dead_workers_task(tmp_path: Path) -> None:
    work = tmp_path / "work"
    task_dir = work / "ccapi-task-dead"
    task_dir.mkdir(parents=True)
    (task_dir / orphans.OWNER_FILE).write_text("999999999 1")  # no such process
    sessions = tmp_path / "config" / "projects" / "-x-ccapi-task-dead"
    sessions.mkdir(parents=True)
    (sessions / "s.jsonl").write_text("{}\n")
    orphans.mark_sessions(task_dir, sessions)
    assert orphans.sweep_stale(work) == (1, 0)
    assert not task_dir.exists() and not sessions.exists()
