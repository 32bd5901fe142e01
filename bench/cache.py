"""Benchmark response-cache hits on both backends: in-process memory and local Redis.

Each backend gets a warm cache of ``--keys`` realistic entries (an answer of ~1 KB with usage),
then ``--hits`` sequential ``ResponseCache.get`` calls on random keys are timed one by one
(the API awaits one lookup per request), and ``--concurrency`` tasks run the same lookups in
parallel for throughput. Targets: p99 <= 1 ms (memory) and <= 2 ms (local Redis).
Prints a table and writes ``bench/results/cache.json``.

    python bench/cache.py [--hits 20000] [--keys 1000] [--concurrency 16]
                          [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from claude_code_api.cache import CacheBackend, MemoryBackend, RedisBackend, ResponseCache
from claude_code_api.domain import CompletionResult, Usage

TARGET_P99_MS = {"memory": 1.0, "redis": 2.0}


def answer(n: int) -> CompletionResult:
    return CompletionResult(
        text=f"answer {n} " + "lorem ipsum dolor sit amet " * 40,
        model="claude-sonnet-4-5",
        usage=Usage(input_tokens=250, output_tokens=180, cost_usd=0.0035),
        session_id=str(uuid.uuid4()),
        duration_ms=900,
    )


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


async def measure(name: str, backend: CacheBackend, args: argparse.Namespace) -> dict[str, Any]:
    cache = ResponseCache(backend)
    keys = [
        cache.key_for(
            f"project-{n % 7}", "sonnet", "Be brief.", [["user", f"q{n}"]], 500, "chat", None
        )
        for n in range(args.keys)
    ]
    for n, key in enumerate(keys):
        await cache.put(key, answer(n), ttl=600)
    rng = random.Random(1)
    order = [rng.choice(keys) for _ in range(args.hits)]
    for key in order[: min(500, len(order))]:  # warm-up: connections, script cache
        await cache.get(key)

    latencies: list[float] = []
    started = time.perf_counter()
    for key in order:
        t0 = time.perf_counter_ns()
        hit = await cache.get(key)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        assert hit is not None, "benchmark expects hits only"
    sequential_s = time.perf_counter() - started
    latencies.sort()

    share = max(1, args.hits // args.concurrency)

    async def worker(chunk: list[str]) -> None:
        for key in chunk:
            await cache.get(key)

    started = time.perf_counter()
    await asyncio.gather(
        *(worker(order[i * share : (i + 1) * share]) for i in range(args.concurrency))
    )
    concurrent_s = time.perf_counter() - started

    p99 = percentile(latencies, 0.99)
    return {
        "backend": name,
        "hits": args.hits,
        "p50_ms": round(percentile(latencies, 0.50), 4),
        "p99_ms": round(p99, 4),
        "max_ms": round(latencies[-1], 4),
        "mean_ms": round(statistics.fmean(latencies), 4),
        "hits_per_s_sequential": round(args.hits / sequential_s),
        "hits_per_s_concurrent": round(share * args.concurrency / concurrent_s),
        "concurrency": args.concurrency,
        "target_p99_ms": TARGET_P99_MS[name],
        "meets_target": p99 <= TARGET_P99_MS[name],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    memory = MemoryBackend(max_entries=max(10_000, args.keys))
    results.append(await measure("memory", memory, args))
    await memory.close()
    prefix = f"ccapi-bench-{uuid.uuid4().hex[:8]}"
    redis = RedisBackend.from_url(args.redis_url, prefix)
    try:
        await redis.ping()
        results.append(await measure("redis", redis, args))
    finally:
        keys = [k async for k in redis.client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.client.delete(*keys)
        await redis.close()
    return {
        "benchmark": "cache",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "keys": args.keys,
        "results": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    report = asyncio.run(main(parser.parse_args()))
    print(
        f"{'backend':8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'hits/s seq':>11} "
        f"{'hits/s conc':>12} target"
    )
    for row in report["results"]:
        verdict = "ok" if row["meets_target"] else "MISSED"
        print(
            f"{row['backend']:8} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} {row['max_ms']:8.3f} "
            f"{row['hits_per_s_sequential']:11,} {row['hits_per_s_concurrent']:12,} "
            f"p99<={row['target_p99_ms']} ms {verdict}"
        )
    out = Path(__file__).parent / "results" / "cache.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
