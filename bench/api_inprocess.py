"""Per-request CPU of the app alone: cache hits driven through the ASGI app in process.

No sockets, no uvicorn: the app (``create_app(Settings(demo=True))``, its lifespan running) is
called directly with one cached chat completion, so the figure is the Python work of the whole
stack (middleware, auth, rate limit, validation, routing, cache, usage row, metrics) and nothing
else: with the default settings (a repeat is answered by ``api/repeat_hits.py``) and with
``repeat_hits=0`` (every hit through FastAPI's route).
Compare it with bench/api.py's wrk figure (CPU per request = 1 / req/s when the server's
one thread is saturated) to see how much goes to uvicorn, the sockets and the event loop.
``--profile`` prints cProfile's top functions for one extra pass (cProfile slows it ~2.5x).

    python bench/api_inprocess.py [--requests 5000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from claude_code_api.app import create_app
from claude_code_api.config import Settings

ADMIN = "bench-admin-key"
BODY = {
    "model": "haiku",
    "messages": [{"role": "user", "content": "hit me"}],
    "max_tokens": 64,
    "cache": True,
}


async def call(app: Any, path: str, body: dict[str, object], key: str) -> tuple[int, bytes]:
    """One POST through the ASGI app; its status and body."""
    raw = json.dumps(body).encode()
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"authorization", b"Bearer " + key.encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    pending = True
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, object]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(args: argparse.Namespace, tmp: Path, **overrides: Any) -> list[float]:
    """Microseconds per cache hit, three runs, on an app built with ``overrides``."""
    app = create_app(Settings(demo=True, workdir_root=tmp, **overrides))
    async with app.router.lifespan_context(app):
        new_key = {"project_id": "bench", "rate_limit": 1_000_000}
        status, raw = await call(app, "/admin/keys", new_key, ADMIN)
        assert status in (200, 201), (status, raw)
        key = json.loads(raw)["key"]
        for _ in range(300):  # prime the cache and warm up
            status, raw = await call(app, "/v1/chat/completions", BODY, key)
        assert status == 200, (status, raw)
        runs: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(args.requests):
                await call(app, "/v1/chat/completions", BODY, key)
            runs.append(round((time.perf_counter() - started) / args.requests * 1e6, 1))
            print(f"us per cache hit {overrides or 'defaults'}: {runs[-1]}", flush=True)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                await call(app, "/v1/chat/completions", BODY, key)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(40)
    return runs


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CCAPI_ADMIN_KEY"] = ADMIN
        os.environ["CCAPI_LOG_LEVEL"] = "WARNING"
        results: dict[str, list[float]] = {}
        for name, overrides in (("defaults", {}), ("repeat_hits_off", {"repeat_hits": 0})):
            base = Path(tmp) / name
            base.mkdir()
            os.environ["CCAPI_DATABASE_URL"] = f"sqlite:///{base / 'bench.db'}"
            results[name] = await measure(args, base, **overrides)
    return {
        "requests_per_run": args.requests,
        "us_per_cache_hit": results["defaults"],
        "us_per_cache_hit_repeat_hits_off": results["repeat_hits_off"],
        "load_average_end": os.getloadavg(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    report = asyncio.run(main(parser.parse_args()))
    print(json.dumps(report, indent=2))
    out = Path(__file__).parent / "results" / "api_inprocess.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
