"""A tiny keep-alive HTTP/1.1 load generator (shared by the API benchmarks).

Hand-rolled on purpose: httpx costs ~0.5 ms of CPU per request, which on a 2-core machine
would measure the client rather than the server. This writes pre-built request bytes on raw
asyncio streams and reads responses by Content-Length (the service never chunks non-stream
responses).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Any


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_request(host: str, port: int, method: str, path: str, body: Any, key: str) -> bytes:
    """Encode one HTTP/1.1 request."""
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


@dataclass
class Result:
    """Latencies (seconds) and status counts of one run."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Requests/s and latency percentiles in milliseconds."""
        lat = sorted(self.latencies)
        n = len(lat)

        def pct(p: float) -> float:
            return round(lat[min(n - 1, int(p * n))] * 1000, 3) if n else 0.0

        return {
            "requests": n,
            "rps": round(n / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat) * 1000, 3) if n else 0.0,
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


async def run_load(
    host: str, port: int, requests: list[bytes], *, concurrency: int, total: int
) -> Result:
    """Send ``total`` requests over ``concurrency`` keep-alive connections."""
    result = Result()
    counter = iter(range(total))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in counter:
                payload = requests[i % len(requests)]
                started = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result
