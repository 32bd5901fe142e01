"""End-to-end checks of the running docker compose stack (called by scripts/deploy/test_deploy.sh).

Standard library only, so it runs with any host ``python3``. Each check prints one line; the
first failure exits 1 with what was seen. The stack is expected to run with one local CLI slot
per container (``CCAPI_MAX_WORKERS=1``): while replica A's slot is held by a slow request, a
second request to A has to go through the Redis queue to the ``worker`` container, and the
worker's log must show it ran that task.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

TIMEOUT = 120.0


class CheckError(Exception):
    """One end-to-end expectation did not hold."""


def call(
    port: int, method: str, path: str, key: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request to the replica on ``port``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - http://
            status, raw = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read().decode()
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


def expect(condition: bool, what: str, seen: Any) -> None:
    if not condition:
        raise CheckError(f"{what}; got {str(seen)[:800]}")


def ok(message: str) -> None:
    print(f"    ok  {message}", flush=True)


def poll(what: str, probe: Any, timeout: float = 60.0) -> Any:
    """``probe()`` until it returns something truthy (then that), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise CheckError(f"timed out waiting for {what}")
        time.sleep(0.2)


def metric(port: int, name: str) -> float:
    _status, text = call(port, "GET", "/metrics")
    for line in str(text).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def chat(port: int, key: str, prompt: str) -> tuple[int, Any]:
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    return call(port, "POST", "/v1/chat/completions", key, body)


def worker_log() -> str:
    result = subprocess.run(
        ["docker", "compose", "logs", "--no-color", "worker"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def run(ports: list[int], admin_key: str) -> None:
    a, b = ports
    for port in ports:
        status, body = call(port, "GET", "/healthz")
        expect(status == 200, f"GET /healthz on :{port} is 200", (status, body))
        ok(f"/healthz on replica :{port}")
    for port in ports:
        poll(f"/readyz 200 on :{port}", lambda port=port: call(port, "GET", "/readyz")[0] == 200)
    ok("/readyz 200 on both replicas (CLI, PostgreSQL, Redis reachable)")

    project = f"deploy-{uuid.uuid4().hex[:8]}"
    status, created = call(a, "POST", "/admin/keys", admin_key, {"project_id": project})
    expect(status == 201 and "key" in created, "POST /admin/keys creates a key", created)
    key = created["key"]
    status, usage = call(b, "GET", "/v1/usage", key)
    expect(status == 200 and usage["project_id"] == project, "the key works on the other", usage)
    ok(f"key created through :{a} is accepted by :{b} (shared PostgreSQL)")
    status, body = call(b, "GET", "/v1/usage", "ccapi_not-a-key")
    expect(status == 401, "an unknown key is refused", (status, body))

    # Hold replica A's only local slot with a slow request, then send it a second one.
    slow: dict[str, Any] = {}

    def hold() -> None:
        slow["result"] = chat(a, key, f"[[sim:delay=6]] hold the local slot {uuid.uuid4()}")

    holder = threading.Thread(target=hold)
    holder.start()
    poll("replica A's local slot to be busy", lambda: metric(a, "ccapi_workers_busy") >= 1)
    marker = f"through the queue {uuid.uuid4()}"
    status, answer = chat(a, key, marker)
    holder.join(timeout=TIMEOUT)
    expect(status == 200, "the queued chat completion is 200", answer)
    text = answer["choices"][0]["message"]["content"]
    expect(bool(text), "the queued completion has an answer", answer)
    expect(slow.get("result", (0,))[0] == 200, "the slow local completion is 200", slow)
    poll("the worker's log line for the task", lambda: "running task" in worker_log())
    ok(f"chat completion answered through the queue worker ({answer['model']}: {text[:40]!r})")

    def usage_counted() -> Any:
        status, body = call(b, "GET", "/v1/usage", key)
        return body if status == 200 and body.get("requests", 0) >= 2 else None

    usage = poll("usage of both completions", usage_counted)
    expect(usage["total_tokens"] > 0 and usage["by_model"], "usage has tokens by model", usage)
    status, admin_view = call(b, "GET", f"/v1/usage?project_id={project}", admin_key)
    same = status == 200 and admin_view["requests"] == usage["requests"]
    expect(same, "the admin key sees the same usage", admin_view)
    ok(f"usage visible on :{b}: {usage['requests']} requests, {usage['total_tokens']} tokens")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", required=True, help="host ports of the two API replicas, A-B")
    parser.add_argument("--admin-key", required=True)
    args = parser.parse_args()
    low, _, high = args.ports.partition("-")
    ports = [int(low), int(high or low) if high else int(low) + 1]
    try:
        run(ports, args.admin_key)
    except CheckError as exc:
        print(f"    FAIL {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
