"""Every example runs, unchanged, against the real service on the simulated CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LiveServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def example_env(server: LiveServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCAPI_", "OPENAI_"))}
    env["CCAPI_BASE_URL"] = server.url
    env["CCAPI_API_KEY"] = server.create_key("examples")
    return env


def run_example(env: dict[str, str], *argv: str, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, *argv], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_openai_sdk_example(example_env: dict[str, str]) -> None:
    out = run_example(example_env, str(EXAMPLES / "openai_sdk.py"))
    assert "You said: Explain async/await" in out
    assert "streamed tokens:" in out
    assert "models:" in out and "haiku" in out


def test_chatbot_example_keeps_the_conversation(example_env: dict[str, str]) -> None:
    out = run_example(
        example_env,
        str(EXAMPLES / "chatbot" / "chatbot.py"),
        "--model",
        "haiku",
        stdin="Hello there\nWhat did I just say?\n/usage\n/reset\n/quit\n",
    )
    assert "You said: Hello there" in out
    assert out.count("bot> ") == 2
    assert "this month:" in out and "conversation cleared" in out


def test_code_analyzer_example(example_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / "b.js").write_text("function f(x) { return eval(x); }\n")
    (tmp_path / "notes.txt").write_text("not code")
    out = run_example(example_env, str(EXAMPLES / "code_analyzer" / "analyze.py"), str(tmp_path))
    assert "a.py" in out and "b.js" in out and "notes.txt" not in out
    assert "2 reviewed, 0 failed" in out


def test_batch_documents_example(example_env: dict[str, str], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    names = [f"doc{i}.txt" for i in range(5)] + ["guide.md", "nested/notes.rst"]
    for name in names:
        (docs / name).write_text(f"Document {name} talks about queues and budgets.\n")
    (docs / "image.png").write_bytes(b"\x89PNG not a document")
    out = tmp_path / "out" / "summaries"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "batch_documents" / "summarize.py"),
            str(docs),
            "--out",
            str(out),
            "--batch-size",
            "3",
        ],
        env=example_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if "documents," in line]
    assert [line.split("] ")[1].split(" ")[0] for line in progress] == ["3/7", "6/7", "7/7"]
    assert "7 summarised, 0 failed" in result.stdout

    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert [Path(r["file"]).relative_to(docs).as_posix() for r in rows] == sorted(names)
    for r, name in zip(rows, sorted(names), strict=True):
        assert r["ok"] and r["error"] is None and r["tokens"] > 0
        assert f"<document> Document {name} talks" in r["summary"]  # the simulated echo
    with out.with_suffix(".csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [t["file"] for t in table] == [r["file"] for r in rows]
    assert {t["model"] for t in table} == {rows[0]["model"]} and "haiku" in rows[0]["model"]


def test_multi_agent_example_delegates_to_workers_with_tools(
    example_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "sample").write_text("The tool_call_timeout setting is 300 seconds.\n")
    (tmp_path / "other.txt").write_text("unrelated sample text\n")
    # Two delegations in one turn; each worker searches (step 1), then reads (step 2).
    question = (
        "What is the timeout? "
        '[[call:delegate {"task": "Find it. [[call:search]] [[call2:read]]"}]] '
        '[[call:delegate {"task": "Double-check. [[call:read]]"}]]'
    )
    out = run_example(
        example_env, str(EXAMPLES / "multi_agent" / "agents.py"), str(tmp_path), question
    )
    # The planner's answer carries both workers' reports, each built from the file it read.
    assert out.count("The tool_call_timeout setting is 300 seconds.") == 2, out
