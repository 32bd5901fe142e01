"""Benchmark: a tool-call turn vs a plain turn on the REAL claude binary (fake upstream).

A plain turn is one cold ``claude -p`` call answering text. A tool-call turn is the same cold
call started with the MCP bridge (``--mcp-config``: one more process, the stdlib-only
``workers/mcp_server.py``, plus the MCP handshake) whose model answers with a tool call; it ends
when the call is returned (the run is suspended). The resume turn is the follow-up: the
client's result answered to the waiting process, until the final text. Runs alternate
plain/tool one at a time (concurrency 1) in the same run, against the fake Anthropic upstream
(tests/fakes/upstream.py) in its own process.

    .venv/bin/python bench/tools.py            # ~1-2 minutes on 2 cores
    .venv/bin/python bench/tools.py --runs 20

Target: tool-call turn p50 - plain turn p50 <= 150 ms. A tool-call turn ends when the calls are
returned (its process stays up, parked); a plain turn ends when the CLI has exited and been
reaped, which is also when the service answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fixtures import install_claude  # noqa: E402

from claude_code_api.config import Settings  # noqa: E402
from claude_code_api.domain import TaskRequest, ToolResult, ToolSpec  # noqa: E402
from claude_code_api.workers import CLIRunner  # noqa: E402

UPSTREAM = (
    "import sys, time; sys.path.insert(0, sys.argv[1]);"
    "from tests.fakes.upstream import FakeAnthropic;"
    "u = FakeAnthropic().start(); print(u.url, flush=True); time.sleep(10**6)"
)
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
    }


async def bridge_start(runs: int) -> dict[str, float]:
    """The bridge's own start-up cost: spawn ``mcp_server.py`` as the CLI does and time the
    answer to ``initialize`` (a socket is listening, as in a real run)."""
    from claude_code_api.workers.tool_bridge import Bridge

    times: list[float] = []
    for _ in range(runs):
        workdir = Path(tempfile.mkdtemp(prefix="ccapi-bench-"))
        bridge = Bridge(TaskRequest(prompt="", tools=[WEATHER]), workdir)
        await bridge.start()
        server = json.loads(bridge.config_path.read_text())["mcpServers"]["t"]
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            server["command"],
            *server["args"],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}\n')
        await proc.stdout.readline()
        times.append(time.perf_counter() - started)
        proc.kill()
        await proc.wait()
        await bridge.close()
    return {"n": runs, "p50_ms": round(statistics.median(times) * 1000, 1)}


async def main(runs: int) -> dict[str, object]:
    claude = str(install_claude())
    upstream = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    assert upstream.stdout is not None
    url = upstream.stdout.readline().strip()
    home = tempfile.mkdtemp(prefix="ccapi-bench-home-")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    settings = Settings(claude_bin=claude, task_timeout=120)
    runner = CLIRunner(settings, base_env=env)
    plain: list[float] = []
    tool: list[float] = []
    resume: list[float] = []
    try:
        for i in range(runs + 1):  # the first pair warms the page cache and is not counted
            started = time.perf_counter()
            result = await runner.run(TaskRequest(prompt=f"Say hello {i}", model="haiku"))
            plain_s = time.perf_counter() - started
            assert result.text
            task = TaskRequest(
                prompt=f'Weather {i}? [[call:get_weather {{"city": "Paris"}}]]',
                model="haiku",
                tools=[WEATHER],
            )
            started = time.perf_counter()
            called = await runner.run(task)
            tool_s = time.perf_counter() - started
            assert called.suspended and called.tool_calls, called
            results = [ToolResult(called.tool_calls[0].id, "sunny")]
            started = time.perf_counter()
            final = await runner.run(
                TaskRequest(prompt="", model="haiku", tools=[WEATHER], tool_results=results)
            )
            resume_s = time.perf_counter() - started
            assert "sunny" in final.text, final
            if i:
                plain.append(plain_s)
                tool.append(tool_s)
                resume.append(resume_s)
            print(
                f"run {i}: plain {plain_s:.3f}s  tool-call turn {tool_s:.3f}s  "
                f"resume {resume_s:.3f}s",
                flush=True,
            )
    finally:
        await runner.aclose()
        upstream.kill()
        upstream.wait()
    added = statistics.median(tool) - statistics.median(plain)
    report = {
        "claude_version": subprocess.run(
            [claude, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "plain_turn": stats(plain),
        "tool_call_turn": stats(tool),
        "resume_turn": stats(resume),
        "tool_turn_added_p50_ms": round(added * 1000, 1),
        # Each tool turn runs right after its plain turn: the median of the pairs' differences
        # is less sensitive to load that changes during the run than the difference of medians.
        "tool_turn_added_paired_p50_ms": round(
            statistics.median(t - p for t, p in zip(tool, plain, strict=True)) * 1000, 1
        ),
        "bridge_start": await bridge_start(20),
        "tool_turn_ratio_p50": round(statistics.median(tool) / statistics.median(plain), 3),
        "resume_ratio_p50": round(statistics.median(resume) / statistics.median(plain), 3),
        "targets": {"tool_turn_added_p50_ms_max": 150},
    }
    print(
        f"plain p50 {report['plain_turn']['p50_s']}s | tool-call turn p50 "  # type: ignore[index]
        f"{report['tool_call_turn']['p50_s']}s (added {added * 1000:+.0f} ms) | "  # type: ignore[index]
        f"resume p50 {report['resume_turn']['p50_s']}s | bridge start p50 "  # type: ignore[index]
        f"{report['bridge_start']['p50_ms']} ms"  # type: ignore[index]
    )
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="counted runs of each kind")
    args = parser.parse_args()
    result = asyncio.run(main(args.runs))
    out = ROOT / "bench" / "results" / "tools.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
