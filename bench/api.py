"""Benchmark the HTTP API on the simulated CLI: cache hits, misses, and overhead vs the pool.

Starts ``claude-code-api serve --demo`` as a separate process (one uvicorn worker, access log
off, default settings: warm processes), drives it with a raw keep-alive HTTP client, and
compares miss latency with calling the worker pool directly in this process. Then cache hits
with ``wrk`` (``apt-get install wrk``) at 10 connections, next to the same service with the
repeat-hit path off (``CCAPI_REPEAT_HITS=0``: every hit through FastAPI's route) and a bare
uvicorn app (bench/_bare_app.py, the ceiling) and, if it installs, LiteLLM's proxy with its
in-memory response cache (bench/_litellm.py: own venv, pinned version, mocked model), alternated
in the same run. Prints a table and writes ``bench/results/api.json``.

    python bench/api.py [--hits 10000] [--misses 200] [--wrk-seconds 10] [--no-wrk]
                        [--no-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import _litellm  # bench/ is sys.path[0]
from _loadgen import build_request, free_port, run_load
from claude_code_api.config import Settings
from claude_code_api.domain import TaskRequest
from claude_code_api.workers import WorkerPool

ADMIN = "bench-admin-key"
HOST = "127.0.0.1"


def start_server(
    port: int, workdir: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **(extra_env or {}),
        "CCAPI_ADMIN_KEY": ADMIN,
        "CCAPI_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "CCAPI_MAX_WORKERS": "5",
        "CCAPI_QUEUE_MAX": "1000",
        "CCAPI_LOG_LEVEL": "WARNING",
    }
    cli = Path(sys.executable).parent / "claude-code-api"
    return subprocess.Popen(
        [str(cli), "serve", "--demo", "--port", str(port), "--no-access-log",
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "_bare_app:app", "--port", str(port), "--loop",
         "asyncio", "--no-access-log", "--log-level", "warning"],
        cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wrk(
    url: str, key: str, body: dict[str, object], seconds: int, workdir: Path
) -> dict[str, float]:
    """``wrk -t1 -c10`` POSTing ``body``; requests/s and latency percentiles in ms."""
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c10", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return round(float(match.group(1)) * units[match.group(2)], 3) if match else -1.0

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p90_ms": latency("90"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def wait_ready(url: str, path: str = "/healthz") -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def chat(prompt: str, cache: bool = True) -> dict[str, object]:
    return {
        "model": "haiku",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 64,
        "cache": cache,
    }


async def interleaved_misses(
    port: int, key: str, n: int, workdir: Path
) -> tuple[list[float], list[float]]:
    """Alternate one HTTP miss and one direct ``WorkerPool.run`` call, ``n`` times each.

    Interleaving puts both under the same machine load, so their difference is the service's
    own overhead (auth, rate limit, routing, budget reservation, usage row, HTTP) rather than
    noise from whatever else the machine was doing at another moment.
    """
    pool = WorkerPool(Settings(demo=True, max_workers=5, workdir_root=workdir))
    await pool.start()
    http_lat: list[float] = []
    direct_lat: list[float] = []
    try:
        for i in range(n):
            body = chat(f"interleaved miss {i}", cache=False)
            request = build_request(HOST, port, "POST", "/v1/chat/completions", body, key)
            result = await run_load(HOST, port, [request], concurrency=1, total=1)
            assert result.statuses == {200: 1}, result.statuses
            http_lat.extend(result.latencies)
            task = TaskRequest(prompt=f"direct miss {i}", model="claude-haiku-4-5", max_tokens=64)
            started = time.perf_counter()
            await pool.run(task)
            direct_lat.append(time.perf_counter() - started)
    finally:
        await pool.close()
    return http_lat, direct_lat


def litellm_body() -> dict[str, object]:
    """The wrk body for LiteLLM: ``chat("hit me")`` on its model, without the ``cache`` flag.

    LiteLLM rejects a boolean ``cache`` (its ``cache`` parameter is a dict of cache controls)
    and caches every request once ``cache: true`` is in its config.
    """
    body = {key: value for key, value in chat("hit me").items() if key != "cache"}
    return {**body, "model": _litellm.MODEL}


def start_litellm(workdir: Path) -> tuple[_litellm.LiteLLMProxy | None, dict[str, object]]:
    """LiteLLM's proxy, verified to answer a repeat from its cache, or None and the reason."""
    try:
        proxy = _litellm.start(workdir, litellm_body())
    except _litellm.LiteLLMUnavailableError as exc:
        missing = isinstance(exc, _litellm.LiteLLMNotInstalledError)
        state = "not installed" if missing else "unavailable"
        print(f"litellm: {state} ({exc})", flush=True)
        return None, {"status": f"{state} ({exc})"}
    print(f"litellm: {proxy.version} at {proxy.url}, repeat verified as a cache hit", flush=True)
    info: dict[str, object] = {
        "status": "ok",
        "version": proxy.version,
        "cache_hit_check": f"second identical POST carried {_litellm.CACHE_HEADER}",
    }
    return proxy, info


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def main(args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc = start_server(port, workdir)
        try:
            wait_ready(url)
            created = httpx.post(
                f"{url}/admin/keys",
                json={"project_id": "bench", "rate_limit": 1_000_000},
                headers={"Authorization": f"Bearer {ADMIN}"},
            ).json()
            key = created["key"]
            hit = build_request(HOST, port, "POST", "/v1/chat/completions", chat("hit me"), key)
            warm = await run_load(HOST, port, [hit], concurrency=1, total=200)
            assert warm.statuses == {200: 200}, warm.statuses
            hits_1 = await run_load(HOST, port, [hit], concurrency=1, total=args.hits // 5)
            hits_10 = await run_load(HOST, port, [hit], concurrency=10, total=args.hits)
            miss_reqs = [
                build_request(
                    HOST, port, "POST", "/v1/chat/completions", chat(f"miss {i}", False), key
                )
                for i in range(args.misses)
            ]
            miss_1 = await run_load(HOST, port, miss_reqs, concurrency=1, total=args.misses // 2)
            miss_5 = await run_load(HOST, port, miss_reqs, concurrency=5, total=args.misses)
            http_lat, direct_lat = await interleaved_misses(port, key, args.misses // 2, workdir)
            wrk_hits: dict[str, object] = {}
            litellm: dict[str, object] = {
                "status": "not run (--no-litellm)" if not args.litellm else "not run (no wrk)"
            }
            if args.wrk and shutil.which("wrk"):
                proxy: _litellm.LiteLLMProxy | None = None
                bare_port, route_port = free_port(), free_port()
                bare = start_bare(bare_port)
                # The same service with the repeat-hit path off: every hit through FastAPI.
                route_dir = workdir / "route"
                route_dir.mkdir()
                route = start_server(route_port, route_dir, {"CCAPI_REPEAT_HITS": "0"})
                try:
                    if args.litellm:
                        proxy, litellm = start_litellm(workdir)
                    wait_ready(f"http://{HOST}:{bare_port}", path="/")
                    route_url = f"http://{HOST}:{route_port}"
                    wait_ready(route_url)
                    route_key = httpx.post(
                        f"{route_url}/admin/keys",
                        json={"project_id": "bench", "rate_limit": 1_000_000},
                        headers={"Authorization": f"Bearer {ADMIN}"},
                    ).json()["key"]
                    httpx.post(f"{route_url}/v1/chat/completions", json=chat("hit me"),
                               headers={"Authorization": f"Bearer {route_key}"})  # fmt: skip
                    for _ in range(args.wrk_runs):  # alternate: same machine load for all
                        runs = {
                            "service": wrk(f"{url}/v1/chat/completions", key, chat("hit me"),
                                           args.wrk_seconds, workdir),
                            "service_repeat_hits_off": wrk(
                                f"{route_url}/v1/chat/completions", route_key, chat("hit me"),
                                args.wrk_seconds, workdir),
                            "bare_uvicorn": wrk(f"http://{HOST}:{bare_port}/", key,
                                                chat("hit me"), args.wrk_seconds, workdir),
                        }  # fmt: skip
                        if proxy is not None:
                            runs["litellm_proxy"] = wrk(
                                f"{proxy.url}/v1/chat/completions", _litellm.MASTER_KEY,
                                litellm_body(), args.wrk_seconds, workdir)  # fmt: skip
                        for name, run in runs.items():
                            wrk_hits.setdefault(name, []).append(run)  # type: ignore[union-attr]
                        print("wrk", runs, flush=True)
                finally:
                    for proc_ in (bare, route):
                        proc_.terminate()
                        proc_.wait(timeout=30)
                    if proxy is not None:
                        litellm["peak_rss_mb"] = rss_mb(proxy.pid)
                        proxy.stop()
            server_rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    direct = {"p50_ms": _ms(direct_lat, 0.5), "p95_ms": _ms(direct_lat, 0.95)}
    via_http = {"p50_ms": _ms(http_lat, 0.5), "p95_ms": _ms(http_lat, 0.95)}
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "cache_hits_1_client": hits_1.summary(),
        "cache_hits_10_clients": hits_10.summary(),
        "misses_1_client": miss_1.summary(),
        "misses_5_clients": miss_5.summary(),
        "interleaved_direct_pool": direct,
        "interleaved_http_miss": via_http,
        "added_latency_p50_ms": round(via_http["p50_ms"] - direct["p50_ms"], 2),
        "wrk_cache_hits_10_connections": wrk_hits,
        "litellm": litellm,
        "load_average_end": os.getloadavg(),
        "server_peak_rss_mb": server_rss,
        "targets": {
            "hits_10_clients_rps": ">= 1000",
            "hits_1_client_p50_ms": "<= 2",
            "added_latency_p50_ms": "<= 3",
            "wrk_hits_rps": ">= 3000",
            "wrk_hits_p99_ms": "<= 15",
        },
    }
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=10_000)
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--wrk-runs", type=int, default=2)
    parser.add_argument("--no-wrk", dest="wrk", action="store_false")
    parser.add_argument(
        "--litellm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also wrk LiteLLM's proxy (installed into its own venv on first use)",
    )
    report = asyncio.run(main(parser.parse_args()))
    print(json.dumps(report, indent=2))
    out = Path(__file__).parent / "results" / "api.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
