"""Benchmark: what a multi-turn conversation costs in billed input, on the REAL claude binary.

Every mode runs against the fake Anthropic upstream (tests/fakes/upstream.py, in its own
process), which does Anthropic's prompt-caching accounting (tests/fakes/prompt_cache.py:
breakpoints, 20-block lookback, 5-minute entries, per-model minimum; tokens = chars / 4).
Conversations of 10 and 30 turns, each turn a synthetic ~600-token user message and a
~200-token answer (generated pseudo-words, no real chat data), on sonnet:

- flattened: the service's public API (``/v1/chat/completions``), each turn ONE user message
  holding the whole history as the service's own transcript (``build_conversation``): the
  same CLI prompt today's flattened path sends, whatever the service does with real histories
  later. The baseline every ratio is measured against, in the same run.
- cli_resume: the CLI's own sessions driven directly (``claude -p --resume <id>``, same
  system prompt, ``--tools ""``): the best the CLI can do.
- service: the service's public API with the full history as real ``messages``. Today it is
  flattened by the service (ratio ~1.0); once session continuity lands it shows the gain with
  no change here. ``--service-src /work/wt-sessions/src`` runs the server from another tree.

Billed input cost units per turn = input + 1.25 x cache writes + 0.1 x cache reads, summed
over the conversation (``vs_plain``: against the same prompts billed as plain input). Also
p50 / p95 latency per turn (client side) and memory: the server process's RSS growth over one
conversation, the peak RSS of the server with its CLI processes (mostly the warm pool, shared
by both service modes: one project), and the bytes left on disk per conversation (CLI session
files under HOME, the service's work directories); ``cli_resume`` reports its CLI's peak RSS.

    .venv/bin/python bench/conversation_cost.py                 # ~3-5 minutes on 2 cores
    .venv/bin/python bench/conversation_cost.py --turns 10 --model haiku

Targets (issue 13): service <= 0.35x flattened at 10 turns and <= 0.2x at 30 turns.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fixtures import install_claude  # noqa: E402

from claude_code_api.application.conversation import build_conversation  # noqa: E402
from claude_code_api.domain import Message  # noqa: E402
from claude_code_api.routing import estimate_tokens  # noqa: E402

ADMIN = "bench-admin-key-0123456789"
SYSTEM = "You are a concise assistant. Answer the user's latest message."
USER_CHARS = 2400  # ~600 fake tokens
REPLY_CHARS = 800  # ~200 fake tokens
TARGETS = {10: 0.35, 30: 0.2}
#: The fake's model, in its own process: a deterministic ~REPLY_CHARS answer per request.
UPSTREAM = """
import hashlib, random, sys, time
sys.path.insert(0, sys.argv[1])
from tests.fakes.upstream import FakeAnthropic, Reply
def answer(body):
    last = str(body.get("messages", [{}])[-1].get("content"))
    rng = random.Random(hashlib.sha256(last.encode()).hexdigest())
    words = []
    while sum(len(w) + 1 for w in words) < int(sys.argv[2]):
        words.append("".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)))
    return Reply(text=" ".join(words))
u = FakeAnthropic(answer).start(); print(u.url, flush=True); time.sleep(10**6)
"""


def synthetic(rng: random.Random, chars: int) -> str:
    """Pseudo-words (consonant-vowel syllables) in sentences, ``chars`` long."""
    words: list[str] = []
    size = 0
    while size < chars:
        word = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        words.append(word + ("." if rng.random() < 0.1 else ""))
        size += len(words[-1]) + 1
    return " ".join(words)[:chars]


def user_turns(tag: str, turns: int) -> list[str]:
    """The user messages of one conversation; ``tag`` (same length for every mode) keeps the
    modes' prompts apart in the upstream's cache."""
    rng = random.Random(turns)
    return [f"[{tag}] Turn {i + 1}. " + synthetic(rng, USER_CHARS) for i in range(turns)]


def billed(usage: dict[str, int]) -> float:
    return (
        usage["input_tokens"]
        + 1.25 * usage["cache_creation_input_tokens"]
        + 0.1 * usage["cache_read_input_tokens"]
    )


def plain(usage: dict[str, int]) -> int:
    return (
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(total / 1024, 1)


def state_bytes(*roots: Path) -> int:
    """Bytes of every file under ``roots`` (CLI session files, the service's work dirs)."""
    return sum(p.stat().st_size for root in roots for p in root.rglob("*") if p.is_file())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


class Service:
    """``claude-code-api serve`` in its own process, on the real binary."""

    def __init__(self, workdir: Path, env: dict[str, str], src: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = Path(env["HOME"])
        server_env = {
            **env,
            "CCAPI_ADMIN_KEY": ADMIN,
            "CCAPI_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "CCAPI_CLAUDE_BIN": env["CLAUDE_BIN"],
            "CCAPI_CACHE_TTL": "0",  # every turn reaches the CLI
            "CCAPI_TASK_TIMEOUT": "180",
            "CCAPI_WORKDIR_ROOT": str(workdir / "work"),
            "CCAPI_USAGE_FLUSH_INTERVAL": "0.05",
            "PYTHONPATH": str(src) if src else os.environ.get("PYTHONPATH", ""),
        }
        (workdir / "work").mkdir(exist_ok=True)
        self.log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "claude-code-api"), "serve",
             "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
            env=server_env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start, see {workdir / 'server.log'}")

    def key(self, project: str) -> str:
        response = httpx.post(
            f"{self.url}/admin/keys",
            json={"project_id": project, "rate_limit": 100_000},  # turns come fast when warm
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        response.raise_for_status()
        key: str = response.json()["key"]
        return key

    def rows(self, key: str) -> list[dict[str, Any]]:
        time.sleep(0.5)  # usage rows are written in batches
        response = httpx.get(
            f"{self.url}/v1/usage/export",
            params={"format": "json"},
            headers={"Authorization": f"Bearer {key}"},
        )
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_service(
    service: Service, key: str, mode: str, turns: int, model: str, history: bool
) -> dict[str, Any]:
    """One conversation through ``/v1/chat/completions`` (real history, or flattened)."""
    headers = {"Authorization": f"Bearer {key}"}
    messages = [Message.of("system", SYSTEM)]
    latencies, peak, request_ids = [], 0.0, set()
    rss_before = rss_mb(service.proc.pid)
    with httpx.Client(timeout=300) as client:
        for text in user_turns(mode[:4].ljust(4, "-"), turns):
            messages.append(Message.of("user", text))
            if history:
                sent = [{"role": m.role, "content": m.text()} for m in messages]
            else:  # the service's own transcript of the same history, as one user message
                flat = build_conversation(
                    messages, context_window=10**9, reserve_output=0, estimate=estimate_tokens
                )
                sent = [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": flat.prompt},
                ]
            started = time.perf_counter()
            response = client.post(
                f"{service.url}/v1/chat/completions",
                json={"model": model, "messages": sent, "max_tokens": 1024},
                headers=headers,
            )
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            request_ids.add(response.headers["x-request-id"])
            messages.append(
                Message.of("assistant", response.json()["choices"][0]["message"]["content"])
            )
            peak = max(peak, tree_rss_mb(service.proc.pid))
    rss_after = rss_mb(service.proc.pid)
    rows = [row for row in service.rows(key) if row["request_id"] in request_ids]
    rows.sort(key=lambda row: str(row["timestamp"]))
    usages = [
        {
            "input_tokens": row["input_tokens"],
            "cache_creation_input_tokens": row["cache_creation_tokens"],
            "cache_read_input_tokens": row["cache_read_tokens"],
        }
        for row in rows
        if row["status"] == "ok"
    ]
    assert len(usages) == turns, f"{mode}: {len(usages)} usage rows for {turns} turns"
    extra = {
        "server_tree_peak_rss_mb": peak,  # the server and its CLI processes (warm pool)
        "server_rss_growth_mb": round(rss_after - rss_before, 1),  # the server process alone
    }
    return summary(usages, latencies, extra)


def run_cli_resume(claude: str, env: dict[str, str], turns: int, model: str) -> dict[str, Any]:
    """One conversation driven directly with the CLI's own sessions."""
    home = Path(env["HOME"])
    before = state_bytes(home)
    workdir = Path(tempfile.mkdtemp(prefix="ccapi-bench-resume-"))
    usages, latencies, session = [], [], ""
    peak = 0.0
    for text in user_turns("cli-", turns):
        argv = [claude, "-p", "--output-format", "json", "--tools", "", "--model", model,
                "--system-prompt", SYSTEM] + (["--resume", session] if session else [])  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(
            argv, input=text, capture_output=True, text=True, env=env, cwd=workdir, timeout=300
        )
        latencies.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"claude failed: {done.stderr[-1000:]}")
        result = json.loads(done.stdout)
        session = result["session_id"]
        usages.append({k: int(result["usage"].get(k) or 0) for k in (
            "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")})  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    extra = {
        "cli_peak_rss_mb": round(peak, 1),
        "state_bytes": state_bytes(home) - before,  # its session file(s)
    }
    return summary(usages, latencies, extra)


def summary(
    usages: list[dict[str, int]], latencies: list[float], extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "turns": len(usages),
        "billed_input_units": round(sum(billed(u) for u in usages), 1),
        "plain_input_tokens": sum(plain(u) for u in usages),
        "input_tokens": sum(u["input_tokens"] for u in usages),
        "cache_write_tokens": sum(u["cache_creation_input_tokens"] for u in usages),
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in usages),
        "per_turn_billed": [round(billed(u), 1) for u in usages],
        "latency_p50_s": pct(latencies, 0.5),
        "latency_p95_s": pct(latencies, 0.95),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--model", default="sonnet")
    parser.add_argument("--service-src", type=Path, default=None,
                        help="run the server from this src/ (e.g. another worktree's)")  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "conversation_cost.json"
    )
    args = parser.parse_args()
    claude = str(install_claude())
    workdir = Path(tempfile.mkdtemp(prefix="ccapi-bench-conv-"))
    upstream = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM, str(ROOT), str(REPLY_CHARS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert upstream.stdout is not None
    url = upstream.stdout.readline().strip()
    home = workdir / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-bench-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "CLAUDE_BIN": claude,
    }
    results: dict[str, Any] = {}
    service: Service | None = None
    try:
        service = live = Service(workdir, env, args.service_src)
        idle = tree_rss_mb(live.proc.pid)
        key = live.key("bench")  # one project: both service modes share its warm processes
        warm_up = {"model": args.model, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):  # so that both modes' first turns run warm, like the rest
            httpx.post(
                f"{live.url}/v1/chat/completions",
                json=warm_up,
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            ).raise_for_status()
        for turns in args.turns:
            runs: dict[str, Callable[[], dict[str, Any]]] = {
                "flattened": lambda t=turns: run_service(live, key, "flat", t, args.model, False),
                "cli_resume": lambda t=turns: run_cli_resume(claude, env, t, args.model),
                "service": lambda t=turns: run_service(live, key, "svc", t, args.model, True),
            }
            level: dict[str, Any] = {}
            for mode, run in runs.items():
                before = state_bytes(home, workdir / "work")
                level[mode] = run()
                if mode != "cli_resume":  # what the service keeps on disk after the turns
                    level[mode]["state_bytes"] = state_bytes(home, workdir / "work") - before
                print(
                    f"{turns} turns, {mode}: {level[mode]['billed_input_units']} units", flush=True
                )
            base = level["flattened"]["billed_input_units"]
            for data in level.values():
                data["vs_flattened"] = round(data["billed_input_units"] / base, 3)
                data["vs_plain"] = round(data["billed_input_units"] / data["plain_input_tokens"], 3)
            level["target_vs_flattened"] = TARGETS.get(turns)
            level["service_meets_target"] = (
                turns in TARGETS and level["service"]["vs_flattened"] <= TARGETS[turns]
            )
            results[str(turns)] = level
        results["server_idle_tree_rss_mb"] = idle
    finally:
        if service is not None:
            service.stop()
        upstream.terminate()
        upstream.wait()
    results["model"] = args.model
    results["service_src"] = str(args.service_src or ROOT / "src")
    print()
    print(f"{'turns':>5} {'mode':<11} {'billed units':>12} {'vs flat':>8} {'vs plain':>8} "
          f"{'writes':>8} {'reads':>8} {'p50 s':>6} {'p95 s':>6}")  # fmt: skip
    for turns in args.turns:
        for mode in ("flattened", "cli_resume", "service"):
            d = results[str(turns)][mode]
            print(f"{turns:>5} {mode:<11} {d['billed_input_units']:>12} {d['vs_flattened']:>8} "
                  f"{d['vs_plain']:>8} {d['cache_write_tokens']:>8} {d['cache_read_tokens']:>8} "
                  f"{d['latency_p50_s']:>6} {d['latency_p95_s']:>6}")  # fmt: skip
    print(f"\n{'turns':>5} {'mode':<11} {'server RSS growth MB':>20} {'tree peak MB':>12} "
          f"{'bytes on disk':>13}")  # fmt: skip
    for turns in args.turns:
        for mode in ("flattened", "cli_resume", "service"):
            d = results[str(turns)][mode]
            growth = d.get("server_rss_growth_mb", "-")
            peak = d.get("server_tree_peak_rss_mb", d.get("cli_peak_rss_mb"))
            print(f"{turns:>5} {mode:<11} {growth:>20} {peak:>12} {d['state_bytes']:>13}")
    print(f"meets target (service vs flattened): "
          f"{ {t: results[str(t)]['service_meets_target'] for t in args.turns} }")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
