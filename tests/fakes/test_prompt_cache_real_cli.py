"""The REAL ``claude`` binary's own ``--resume`` on the caching fake upstream: turn 2 reads
the prefix turn 1 wrote (CLI-FACTS: the earlier turns come back as the same blocks, the old
breakpoint 2 blocks behind the new one)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

pytestmark = pytest.mark.real_cli


def ask(claude_bin: str, env: dict[str, str], cwd: Path, prompt: str, *resume: str) -> Any:
    argv = [claude_bin, "-p", "--output-format", "json", "--tools", "", "--model", "sonnet"]
    argv += ["--system-prompt", "You are terse.", *resume]
    done = subprocess.run(
        argv,
        input=prompt,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
        env={**env, "PATH": os.environ["PATH"]},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_resume_reads_the_cache_on_turn_two(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    question = "Summarise this text. " + " ".join(f"word{i}" for i in range(900))  # ~2k tokens
    first = ask(claude_bin, real_cli_env, tmp_path, question)
    assert first["usage"]["cache_read_input_tokens"] == 0
    written = first["usage"]["cache_creation_input_tokens"]
    assert written > 1024  # sonnet's minimum: the whole prompt up to the breakpoint
    second = ask(
        claude_bin, real_cli_env, tmp_path, "And in one line?", "--resume", first["session_id"]
    )
    # What the CLI reports is what the upstream said, and turn 1's prefix was read.
    assert second["usage"]["cache_read_input_tokens"] == written
    assert second["usage"]["cache_creation_input_tokens"] > 0  # the new turn is written
    sent = fake_upstream.messages
    assert len(sent) == 2 and len(sent[1].body["messages"]) == 3  # real turns, not a transcript
    # The CLI's cost counts the read at 0.1x: turn 2 is far cheaper than its prompt at full price.
    assert second["total_cost_usd"] < first["total_cost_usd"]
