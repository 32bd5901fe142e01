"""Benchmark: the service's WorkerPool (default settings: warm processes) on the REAL claude
binary vs. a direct cold `claude -p`, plus a mixed workload's warm-hit rate and memory.

Everything runs against the fake Anthropic upstream (tests/fakes/upstream.py, in its own
process) in one run, so the ratios compare like with like on whatever load the machine has:

- direct: one `claude -p` per task (the same argv and environment), 1 / 10 / 20 clients;
- service: `WorkerPool(Settings(claude_bin=...))`, every other setting at its default
  (5 workers, warm processes, 1 spare per key), after a short warm-up, 1 / 10 / 20 clients;
- mixed: a fresh default pool, tasks drawn at random from 5 projects x 3 system prompts x
  4 max_tokens x 2 models at 10 clients; the warm-hit rate counts the first, cold, tasks too;
- caveat: input tokens of the same prompt warm and cold (the fake counts chars / 4);
- RSS of this (service) process and of its CLI processes, idle and under load.

    .venv/bin/python bench/worker_pool.py            # ~2-4 minutes on 2 shared cores
    .venv/bin/python bench/worker_pool.py --scale 2  # 2x more tasks per level

Targets (issue 16): service p50 <= 0.25x direct p50; service throughput at 10 and 20 clients
>= 5x direct; service throughput at 20 clients >= at 1 client; mixed warm-hit rate >= 90 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fixtures import install_claude  # noqa: E402

from claude_code_api.config import Settings  # noqa: E402
from claude_code_api.domain import CompletionResult, TaskRequest  # noqa: E402
from claude_code_api.token_tracker import parse_claude_output  # noqa: E402
from claude_code_api.workers import CLIRunner, WorkerPool, build_argv, build_env  # noqa: E402
from claude_code_api.workers.warm import WarmRunner  # noqa: E402

LEVELS = (1, 10, 20)
DIRECT_TASKS = {1: 4, 10: 10, 20: 20}
SERVICE_TASKS = {1: 40, 10: 150, 20: 200}
MIXED_TASKS = 400
UPSTREAM = (
    "import sys, time; sys.path.insert(0, sys.argv[1]);"
    "from tests.fakes.upstream import FakeAnthropic;"
    "u = FakeAnthropic().start(); print(u.url, flush=True); time.sleep(10**6)"
)
Call = Callable[[TaskRequest], Awaitable[CompletionResult]]


def self_peak_mb() -> float:
    """Peak RSS of this process (children excluded), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def children_rss_mb() -> tuple[int, float]:
    """(count, total RSS in MB) of this process's direct children (the CLI processes)."""
    me, count, total = os.getpid(), 0, 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and "claude" in (entry / "cmdline").read_text(errors="replace"):
            count += 1
            total += rss_mb(int(entry.name))
    return count, round(total, 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(concurrency: int, tasks: list[TaskRequest], call: Call) -> dict[str, float]:
    """Run ``tasks`` with ``concurrency`` clients; latency stats and throughput."""
    latencies: list[float] = []
    pending = iter(tasks)

    async def client() -> None:
        for task in pending:
            started = time.perf_counter()
            result = await call(task)
            assert result.text, "empty answer"
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "tasks": len(tasks),
        "tasks_per_s": round(len(tasks) / wall, 2),
        "p50_s": round(statistics.median(latencies), 4),
        "p95_s": round(pct(latencies, 0.95), 4),
    }


def plain(n: int, tag: str) -> list[TaskRequest]:
    return [TaskRequest(prompt=f"{tag} prompt {i}: say hello.", model="haiku") for i in range(n)]


def mixed(n: int, seed: int = 16) -> list[TaskRequest]:
    rng = random.Random(seed)
    systems = [
        "You are a helpful assistant.",
        "Answer in one sentence.",
        "You are a code reviewer.",
    ]
    return [
        TaskRequest(
            prompt=f"mixed prompt {i}",
            project_id=f"project-{rng.randrange(5)}",
            system_prompt=rng.choice(systems),
            max_tokens=rng.choice([256, 1024, 4096, 16000]),
            model=rng.choice(["haiku", "sonnet"]),
        )
        for i in range(n)
    ]


async def sample_peak(stop: asyncio.Event, into: dict[str, float]) -> None:
    while not stop.is_set():
        count, total = children_rss_mb()
        if total > into.get("cli_rss_mb", 0):
            into.update(cli_processes=count, cli_rss_mb=total)
        await asyncio.sleep(0.5)


async def main(scale: float, mixed_tasks: int = MIXED_TASKS) -> dict[str, object]:
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
    settings = Settings(claude_bin=claude)  # the defaults, except where the CLI is
    assert settings.warm_workers
    load_start = os.getloadavg()
    report: dict[str, object] = {"settings": {
        "max_workers": settings.max_workers, "warm_max_processes": settings.warm_max_processes,
        "warm_spares": settings.warm_spares, "warm_max_memory_mb": settings.warm_max_memory_mb,
    }}  # fmt: skip

    async def direct(task: TaskRequest) -> CompletionResult:
        proc = await asyncio.create_subprocess_exec(
            *build_argv(settings, task),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=build_env(settings, task, env),
            cwd=home,
            start_new_session=True,
        )
        out, _ = await proc.communicate(task.prompt.encode())
        return parse_claude_output(out.decode())

    try:
        # --- caveat: the same prompt cold and warm ---
        warm_runner = WarmRunner(settings, base_env=env, spares=0)
        probe = TaskRequest(prompt="caveat probe", model="haiku")
        cold_usage = (await CLIRunner(settings, base_env=env).run(probe)).usage
        warm_usages = []
        for _ in range(3):
            async for item in warm_runner.stream(probe):
                if isinstance(item, CompletionResult):
                    warm_usages.append(item.usage)
            await warm_runner.quiesce()
        await warm_runner.aclose()
        report["clear_caveat"] = {
            "cold_input_tokens": cold_usage.input_tokens,
            "warm_input_tokens": [u.input_tokens for u in warm_usages],
            "extra_input_tokens_after_clear": warm_usages[-1].input_tokens
            - cold_usage.input_tokens,
            "note": "the fake upstream counts len(json(messages)) / 4",
        }
        print("caveat:", report["clear_caveat"], flush=True)

        # --- service pool (defaults) ---
        pool = WorkerPool(settings, runner=WarmRunner(settings, base_env=env))
        await pool.start()
        runner = pool.runner
        assert isinstance(runner, WarmRunner)

        async def service(task: TaskRequest) -> CompletionResult:
            return await pool.run(task)

        started = time.perf_counter()
        await drive(5, plain(20, "warm-up"), service)
        await runner.quiesce()
        warmup_s = round(time.perf_counter() - started, 2)
        idle_count, idle_rss = children_rss_mb()
        levels: dict[str, object] = {}
        peak: dict[str, float] = {}
        for concurrency in LEVELS:
            n_direct = max(concurrency, round(DIRECT_TASKS[concurrency] * scale))
            n_service = round(SERVICE_TASKS[concurrency] * scale)
            direct_stats = await drive(concurrency, plain(n_direct, f"direct-{concurrency}"),
                                       direct)  # fmt: skip
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_peak(stop, peak))
            service_stats = await drive(concurrency, plain(n_service, f"svc-{concurrency}"),
                                        service)  # fmt: skip
            stop.set()
            await sampler
            levels[str(concurrency)] = {
                "direct": direct_stats,
                "service": service_stats,
                "p50_ratio": round(service_stats["p50_s"] / direct_stats["p50_s"], 3),
                "throughput_ratio": round(
                    service_stats["tasks_per_s"] / direct_stats["tasks_per_s"], 2
                ),
            }
            print(f"c={concurrency:>2} direct {direct_stats['tasks_per_s']:.2f}/s p50 "
                  f"{direct_stats['p50_s']:.3f}s | service {service_stats['tasks_per_s']:.2f}/s "
                  f"p50 {service_stats['p50_s']:.3f}s p95 {service_stats['p95_s']:.3f}s | "
                  f"p50 x{levels[str(concurrency)]['p50_ratio']} throughput "  # type: ignore[index]
                  f"x{levels[str(concurrency)]['throughput_ratio']}", flush=True)  # type: ignore[index]  # fmt: skip
        service_stats_all = runner.stats()
        await pool.close(grace=5)
        report["warmup_s"] = warmup_s
        report["levels"] = levels
        report["service_runner"] = service_stats_all

        # --- mixed workload on a fresh default pool ---
        pool = WorkerPool(settings, runner=WarmRunner(settings, base_env=env))
        await pool.start()
        runner = pool.runner
        assert isinstance(runner, WarmRunner)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(stop, peak))
        mixed_stats = await drive(10, mixed(mixed_tasks), service)
        stop.set()
        await sampler
        stats = runner.stats()
        await pool.close(grace=5)
        report["mixed"] = {**mixed_stats, "warm_hit_rate": round(stats["hit_ratio"], 4),
                           "runner": stats}  # fmt: skip
        print(f"mixed: {mixed_stats} hit rate {stats['hit_ratio']:.3f} "
              f"spawned {stats['spawned']} switches {stats['switches']}", flush=True)  # fmt: skip
    finally:
        upstream.kill()
        upstream.wait()
    report["memory_mb"] = {
        "service_peak_rss": round(self_peak_mb(), 1),
        "cli_idle": {"processes": idle_count, "rss": idle_rss},
        "cli_under_load_peak": peak,
    }
    report["load_average"] = {"start": load_start, "end": os.getloadavg()}
    report["cpus"] = os.cpu_count()
    report["claude_version"] = subprocess.run(
        [claude, "--version"], capture_output=True, text=True
    ).stdout.strip()
    levels_ok = all(
        v["p50_ratio"] <= 0.25
        for v in report["levels"].values()  # type: ignore[union-attr]
    )
    report["targets"] = {
        "p50_ratio_max": 0.25,
        "throughput_ratio_min_at_10_20": 5,
        "throughput_20_ge_1": True,
        "mixed_warm_hit_rate_min": 0.9,
        "p50_met_at_every_level": levels_ok,
    }
    print("memory:", report["memory_mb"], "load:", report["load_average"], flush=True)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply task counts")
    parser.add_argument("--mixed-tasks", type=int, default=MIXED_TASKS)
    args = parser.parse_args()
    result = asyncio.run(main(args.scale, args.mixed_tasks))
    out = ROOT / "bench" / "results" / "worker_pool.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
