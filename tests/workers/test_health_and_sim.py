"""check_cli (/readyz) and the simulated CLI's own flags and formats."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from claude_code_api.workers import check_cli
from claude_code_api.workers.health import credentials_hint
from claude_code_api.workers.simulated_cli import main
from tests.workers.conftest import make_settings


async def test_check_cli_demo_mode(tmp_path: Path) -> None:
    status = await check_cli(make_settings(tmp_path))
    assert status.ok and "simulated" in status.version and "demo" in status.detail


async def test_check_cli_missing_binary(tmp_path: Path) -> None:
    status = await check_cli(make_settings(tmp_path, demo=False, claude_bin="/nope/claude"))
    assert not status.ok and "not found" in status.detail


async def test_check_cli_not_logged_in(
    tmp_path: Path, sim_cli: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    status = await check_cli(make_settings(tmp_path, demo=False, claude_bin=sim_cli))
    assert not status.ok and "not logged in" in status.detail and status.version
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / ".credentials.json").write_text("{}")
    assert (await check_cli(make_settings(tmp_path, demo=False, claude_bin=sim_cli))).ok


def test_credentials_heuristic(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    bare = make_settings(tmp_path, bare=True)
    assert credentials_hint(settings, {"ANTHROPIC_API_KEY": "k"}, tmp_path)[0]
    assert credentials_hint(settings, {"CLAUDE_CODE_USE_BEDROCK": "1"}, tmp_path)[0]
    assert not credentials_hint(bare, {"CLAUDE_CODE_OAUTH_TOKEN": "t"}, tmp_path)[0]
    assert not credentials_hint(settings, {}, tmp_path)[0]


async def test_check_cli_failing_version(tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nexit 7\n")
    fake.chmod(0o755)
    status = await check_cli(make_settings(tmp_path, demo=False, claude_bin=str(fake)))
    assert not status.ok and "status 7" in status.detail


def run_sim(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: bytes = b"hi there",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_sim_formats(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_sim(
        monkeypatch, capsys, ["-p", "--output-format", "json", "--model", "haiku"]
    )
    data = json.loads(out)
    assert code == 0 and data["modelUsage"].keys() == {"claude-haiku-4-5"}
    assert data["total_cost_usd"] > 0 and "bytes=8" in data["result"]
    code, out, _ = run_sim(monkeypatch, capsys, ["-p", "--output-format", "text"])
    assert code == 0 and out.startswith("[claude-sim claude-sonnet-4-5]")
    code, _, err = run_sim(monkeypatch, capsys, ["-p", "--output-format", "stream-json"])
    assert code == 1 and "requires --verbose" in err
    code, out, _ = run_sim(monkeypatch, capsys, ["--version"])
    assert code == 0 and "simulated" in out


def test_sim_stream_json_and_knobs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--tools",
        "",
        "--system-prompt",
        "x",
        "--no-session-persistence",
        "--bare",
    ]
    code, out, _ = run_sim(monkeypatch, capsys, args, b"[[sim:noise]] [[sim:chunk_delay=0]] a")
    lines = out.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert code == 0 and len(events) < len(lines)  # one noise line
    assert events[0]["subtype"] == "init" and events[0]["tools"] == []
    assert events[-1]["type"] == "result"
    monkeypatch.setenv("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "2")
    code, out, _ = run_sim(monkeypatch, capsys, args)
    assert code == 1 and "exceeded the 2 output token maximum" in out
    assert '"stop_reason": "max_tokens"' in out


def test_sim_starts_without_heavy_imports() -> None:
    code = (
        "import sys, claude_code_api.workers.simulated_cli; "
        "print('pydantic' in sys.modules, 'claude_code_api.workers.pool' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]
