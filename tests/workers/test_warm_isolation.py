"""Isolation of warm processes on the real binary: no task ever sees another task's data.

Tasks of 5 projects, each with a distinct marker in its prompt, run on the default warm
runner (spares, per-task model and max_tokens) against a fake upstream that answers with every
marker it finds in the request. A leak of conversation state between tasks, or a process that
served two projects, would put a foreign marker into a request and so into an answer.

``CCAPI_ISOLATION_TASKS`` sets the number of tasks (default 200; ``make test-isolation`` runs
1,000, about a minute on 2 cores).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from claude_code_api.domain import CompletionResult, TaskRequest
from claude_code_api.workers.warm import WarmRunner
from tests.fakes.upstream import FakeAnthropic, Reply
from tests.workers.conftest import children, make_settings, workdirs

MARKER = re.compile(r"MARK-[a-z0-9]+-\d+")
PROJECTS = [f"proj{i}" for i in range(5)]
MODELS = ["haiku", "sonnet"]
MAX_TOKENS = [None, 64, 256, 1024]


def echo_markers(body: dict[str, Any]) -> Reply:
    found = MARKER.findall(json.dumps(body.get("messages", [])) + json.dumps(body.get("system")))
    return Reply(text=" ".join(found) or "no marker")


@pytest.mark.real_cli
async def test_no_marker_is_seen_outside_its_own_task(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str]
) -> None:
    total = int(os.environ.get("CCAPI_ISOLATION_TASKS", "200"))
    with FakeAnthropic(responder=echo_markers) as upstream:
        os.environ["ANTHROPIC_BASE_URL"] = upstream.url  # real_cli_env's server is not ours
        settings = make_settings(
            tmp_path, demo=False, claude_bin=claude_bin, task_timeout=60, max_workers=5
        )
        runner = WarmRunner(settings)
        served_by: dict[int, set[str]] = {}
        answers: dict[str, str] = {}
        queue: asyncio.Queue[TaskRequest] = asyncio.Queue()
        for i in range(total):
            project = PROJECTS[i % len(PROJECTS)]
            queue.put_nowait(
                TaskRequest(
                    prompt=f"Repeat MARK-{project}-{i} please.",
                    model=MODELS[(i // 5) % 2],
                    max_tokens=MAX_TOKENS[(i // 10) % 4],
                    project_id=project,
                    system_prompt=f"You serve {project}.",
                )
            )

        async def submitter() -> None:
            while not queue.empty():
                task = queue.get_nowait()
                pid: list[int] = []
                async for item in runner.stream(
                    task, on_spawn=lambda p, pid=pid: pid.append(p.pid)
                ):
                    if isinstance(item, CompletionResult):
                        answers[task.prompt] = item.text
                served_by.setdefault(pid[0], set()).add(task.project_id)

        try:
            await asyncio.gather(*(submitter() for _ in range(5)))
        finally:
            await runner.aclose()
        requests = upstream.messages
    assert len(answers) == total
    for prompt, text in answers.items():
        own = MARKER.search(prompt)
        assert own is not None and text.strip() == own.group(0), (prompt, text)
    for request in requests:  # every upstream request carried exactly one task's marker
        assert len(MARKER.findall(json.dumps(request.body["messages"]))) == 1
    assert len(requests) == total  # /clear, set_model and max_tokens changes: no model call
    assert all(len(projects) == 1 for projects in served_by.values()), served_by
    assert runner.stats()["hit_ratio"] >= 0.9
    assert runner.spawned < total / 10
    assert children() == [] and workdirs(settings) == []
