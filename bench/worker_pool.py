"""Benchmark: WorkerPool on the REAL claude binary vs. `claude -p` run directly.

Both sides run the same argv, environment and prompts against the fake Anthropic upstream
(tests/fakes/upstream.py, in its own process), at 1, 5 and 20 concurrent submitters, in the
same run, alternating pool and direct per level. Reports tasks/s, p50/p95 latency, the pool's
overhead, and the peak RSS of this (service) process without its CLI children.

    .venv/bin/python bench/worker_pool.py            # ~1-2 minutes on 2 cores
    .venv/bin/python bench/worker_pool.py --scale 3  # 3x more tasks per level

Targets: pool p50 <= direct p50 * 1.05, pool throughput >= 95% of direct, RSS <= 120 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
from claude_code_api.domain import TaskRequest  # noqa: E402
from claude_code_api.token_tracker import parse_claude_output  # noqa: E402
from claude_code_api.workers import CLIRunner, WorkerPool, build_argv, build_env  # noqa: E402
from claude_code_api.workers.warm import WarmRunner  # noqa: E402

LEVELS = (1, 5, 20)
BASE_TASKS = {1: 4, 5: 10, 20: 20}
UPSTREAM = (
    "import sys, time; sys.path.insert(0, sys.argv[1]);"
    "from tests.fakes.upstream import FakeAnthropic;"
    "u = FakeAnthropic().start(); print(u.url, flush=True); time.sleep(10**6)"
)


def rss_mb() -> float:
    """Peak RSS of this process (children excluded), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(concurrency: int, tasks: int, call: object) -> dict[str, float]:
    """Run ``tasks`` calls with ``concurrency`` submitters; latency stats and throughput."""
    latencies: list[float] = []
    counter = iter(range(tasks))

    async def submitter() -> None:
        for i in counter:
            started = time.perf_counter()
            result = await call(f"Benchmark prompt {i}: say hello.")  # type: ignore[operator]
            assert result.text, "empty answer"
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "tasks": tasks,
        "tasks_per_s": round(tasks / wall, 3),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(pct(latencies, 0.95), 3),
    }


async def main(scale: float) -> dict[str, object]:
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
    rss_start = rss_mb()
    levels: dict[str, object] = {}
    try:
        for concurrency in LEVELS:
            tasks = max(concurrency, round(BASE_TASKS[concurrency] * scale))
            settings = Settings(
                claude_bin=claude, max_workers=concurrency, queue_max=1000, task_timeout=120
            )

            async def direct(prompt: str, settings: Settings = settings) -> object:
                task = TaskRequest(prompt=prompt, model="haiku")
                proc = await asyncio.create_subprocess_exec(
                    *build_argv(settings, task),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                    env=build_env(settings, task, env),
                    cwd=home,
                    start_new_session=True,
                )
                out, _ = await proc.communicate(prompt.encode())
                return parse_claude_output(out.decode())

            pool = WorkerPool(settings, runner=CLIRunner(settings, base_env=env))
            await pool.start()

            async def pooled(prompt: str, pool: WorkerPool = pool) -> object:
                return await pool.run(TaskRequest(prompt=prompt, model="haiku"))

            direct_stats = await drive(concurrency, tasks, direct)
            pool_stats = await drive(concurrency, tasks, pooled)
            await pool.close(grace=5)
            # Warm column (CCAPI_WARM_WORKERS): reused stream-json CLI processes, /clear between.
            warm = WorkerPool(settings, runner=WarmRunner(settings, base_env=env))
            await warm.start()

            async def warmed(prompt: str, pool: WorkerPool = warm) -> object:
                return await pool.run(TaskRequest(prompt=prompt, model="haiku"))

            warm_stats = await drive(concurrency, tasks, warmed)
            await warm.close(grace=5)
            overhead = pool_stats["p50_s"] / direct_stats["p50_s"] - 1
            ratio = pool_stats["tasks_per_s"] / direct_stats["tasks_per_s"]
            levels[str(concurrency)] = {
                "direct": direct_stats,
                "pool": pool_stats,
                "warm_pool": warm_stats,
                "p50_overhead_pct": round(overhead * 100, 1),
                "throughput_ratio": round(ratio, 3),
            }
            print(
                f"c={concurrency:>2} tasks={tasks:>3}  direct {direct_stats['tasks_per_s']:.2f}/s "
                f"p50 {direct_stats['p50_s']:.2f}s p95 {direct_stats['p95_s']:.2f}s | pool "
                f"{pool_stats['tasks_per_s']:.2f}/s p50 {pool_stats['p50_s']:.2f}s "
                f"p95 {pool_stats['p95_s']:.2f}s | overhead {overhead * 100:+.1f}% "
                f"throughput {ratio * 100:.0f}% | warm {warm_stats['tasks_per_s']:.2f}/s "
                f"p50 {warm_stats['p50_s']:.3f}s p95 {warm_stats['p95_s']:.3f}s",
                flush=True,
            )
    finally:
        upstream.kill()
        upstream.wait()
    peak = rss_mb()
    report = {
        "claude_version": subprocess.run(
            [claude, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "levels": levels,
        "service_rss_mb": {"start": round(rss_start, 1), "peak": round(peak, 1)},
        "targets": {
            "p50_overhead_pct_max": 5,
            "throughput_ratio_min": 0.95,
            "service_rss_mb_max": 120,
        },
    }
    print(f"service peak RSS {peak:.1f} MB (start {rss_start:.1f} MB, CLI children excluded)")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply task counts")
    args = parser.parse_args()
    result = asyncio.run(main(args.scale))
    out = ROOT / "bench" / "results" / "worker_pool.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
