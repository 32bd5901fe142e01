"""Latency and memory of one routing decision (learned default vs the seed rules).

    .venv/bin/python bench/router_latency.py [--repeat N] [--out PATH]

For prompts of about 100, 2,000 and 8,000 tokens and one of 1 MB (built from the outcome data's
test-split prompts, so the words are realistic), it reports p50/p90 wall time and p50 CPU time
(``time.thread_time``: what the decision costs when the machine is not shared; wall time on a
loaded machine includes waiting for a core), and the process's peak resident memory after
loading the model. Ratios are to the seed profile measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _outcomes import load
from claude_code_api.routing import Router, estimate_tokens, load_rules

DEFAULT_OUT = Path(__file__).parent / "results" / "router_latency.json"


def prompts() -> dict[str, str]:
    pool = "\n\n".join(o.prompt for o in load()["test"])
    out: dict[str, str] = {}
    for name, tokens in (("100 tokens", 100), ("2k tokens", 2_000), ("8k tokens", 8_000)):
        text = pool[: tokens * 4]
        while estimate_tokens(text) > tokens:
            text = text[: int(len(text) * 0.95)]
        out[name] = text
    out["1 MB"] = (pool * (1 + 1_000_000 // len(pool)))[:1_000_000]
    return out


def measure(router: Router, text: str, repeat: int) -> dict[str, float]:
    router.route(text)  # warm-up (loads the model once)
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.thread_time()
        router.route(text)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    wall.sort()
    return {
        "wall_p50_ms": statistics.median(wall) * 1000,
        "wall_p90_ms": wall[int(len(wall) * 0.9)] * 1000,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    texts = prompts()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    routers = {"learned": Router(), "seed": Router(load_rules("seed"))}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, router in routers.items():
        results[name] = {label: measure(router, t, args.repeat) for label, t in texts.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{'prompt':<12} {'router':<8} {'wall p50':>9} {'wall p90':>9} {'cpu p50':>8} "
        f"{'vs seed':>8}"
    )
    for label in texts:
        for name in routers:
            r = results[name][label]
            ratio = r["cpu_p50_ms"] / results["seed"][label]["cpu_p50_ms"]
            print(
                f"{label:<12} {name:<8} {r['wall_p50_ms']:>7.2f}ms {r['wall_p90_ms']:>7.2f}ms "
                f"{r['cpu_p50_ms']:>6.2f}ms {ratio:>7.2f}x"
            )
    print(f"peak RSS {rss:.0f} MB (before the routers: {rss_before:.0f} MB, incl. the test data)")
    out = {"results": results, "peak_rss_mb": rss, "rss_before_routers_mb": rss_before}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
