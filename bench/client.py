"""Benchmark the Python client's own cost: per-call overhead and SSE parsing speed.

The network and the server are taken out with ``httpx.MockTransport`` so the numbers are the
client's work alone (building the request, retries bookkeeping, JSON decode, dataclasses),
compared with the same call made with bare httpx. Prints a table and writes
``bench/results/client.json``.

    python bench/client.py [--calls 3000] [--chunks 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path

import httpx

from claude_code_api.client import AsyncClaudeClient, ClaudeClient

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "claude-haiku-4-5",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi " * 50},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 50, "total_tokens": 53, "cost_usd": 1e-5},
}
BODY = json.dumps(COMPLETION).encode()


def completion_handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})


def sse_body(chunks: int) -> bytes:
    def chunk(delta: dict[str, str], finish: str | None) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n"

    parts = [chunk({"content": f"tok{i} "}, None) for i in range(chunks)]
    parts.append(chunk({}, "stop"))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def per_call_us(fn: object, calls: int) -> float:
    assert callable(fn)
    fn()  # warm up
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--chunks", type=int, default=20000)
    args = parser.parse_args()
    transport = httpx.MockTransport(completion_handler)
    results: dict[str, float] = {}

    raw = httpx.Client(transport=transport, base_url="http://svc")
    payload = {"model": "haiku", "messages": [{"role": "user", "content": "x"}]}
    results["raw_httpx_us_per_call"] = per_call_us(
        lambda: raw.post("/v1/chat/completions", json=payload).json(), args.calls
    )
    client = ClaudeClient("http://svc", "k", transport=transport)
    results["client_complete_us_per_call"] = per_call_us(
        lambda: client.complete("x", model="haiku"), args.calls
    )
    results["client_overhead_us_per_call"] = (
        results["client_complete_us_per_call"] - results["raw_httpx_us_per_call"]
    )

    async def async_calls() -> float:
        async with AsyncClaudeClient("http://svc", "k", transport=transport) as aclient:
            await aclient.complete("x")
            started = time.perf_counter()
            for _ in range(args.calls):
                await aclient.complete("x", model="haiku")
            return (time.perf_counter() - started) / args.calls * 1e6

    results["async_client_complete_us_per_call"] = asyncio.run(async_calls())

    body = sse_body(args.chunks)
    stream_transport = httpx.MockTransport(
        lambda r: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    streamer = ClaudeClient("http://svc", "k", transport=stream_transport)
    started = time.perf_counter()
    tokens = sum(1 for _ in streamer.stream("x"))
    elapsed = time.perf_counter() - started
    assert tokens == args.chunks
    results["stream_chunks_per_s"] = tokens / elapsed
    results["stream_mb_per_s"] = len(body) / elapsed / 1e6

    print(f"{'metric':40} {'value':>12}")
    for name, value in results.items():
        print(f"{name:40} {value:12.1f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "client.json").write_text(
        json.dumps(
            {
                "results": results,
                "calls": args.calls,
                "chunks": args.chunks,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
