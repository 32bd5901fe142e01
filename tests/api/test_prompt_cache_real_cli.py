"""Prompt-cache usage through the HTTP API, on the REAL ``claude`` binary and the caching fake
upstream: every surface reports Anthropic's cache reads and writes, usage rows keep them, and
the budget is charged reads at 0.1x and writes at 1.25x."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_code_api.app import create_app
from claude_code_api.domain import Usage
from claude_code_api.pricing import billed_tokens
from tests.api.conftest import ServerThread, admin_create_key_sync, admin_headers, make_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

pytestmark = pytest.mark.real_cli

PROJECT = "cache-proj"
LIMIT = 10_000_000
#: ~2,500 fake tokens: over sonnet's 1,024-token minimum, so the prompt is written, then read.
DOCUMENT = "Summarise this document. " + " ".join(f"fact-{i} holds." for i in range(700))


def used_tokens(url: str, key: str) -> int:
    """The project's budget used so far, once queued settlements have been applied."""
    headers = {"Authorization": f"Bearer {key}"}
    deadline, last = time.monotonic() + 10, -1
    while time.monotonic() < deadline:
        usage = httpx.get(f"{url}/v1/usage", headers=headers).json()
        if usage["remaining"] == last:
            return LIMIT - last
        last = usage["remaining"]
        time.sleep(0.3)
    raise AssertionError("budget settlements never settled")


def usage_rows(url: str, key: str, count: int) -> list[dict[str, Any]]:
    """The project's usage rows once ``count`` are written (rows are flushed in batches in the
    background, so right after the last response the newest may not be stored yet)."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(
            f"{url}/v1/usage/export",
            params={"format": "json"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200
        rows: list[dict[str, Any]] = response.json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_cache_reads_and_writes_reach_every_surface_rows_and_budget(
    tmp_path: Path, claude_bin: str, real_cli_env: dict[str, str], fake_upstream: FakeAnthropic
) -> None:
    # The service's own response cache is off, so every call reaches the CLI and the upstream.
    # Cold processes only: the CLI derives its billing-header system block from the first
    # prompt of a process, so only cold calls of one prompt send byte-identical requests (a
    # warm process adds its /clear caveat blocks and another header).
    settings = make_settings(
        tmp_path,
        demo=False,
        claude_bin=claude_bin,
        task_timeout=60,
        cache_ttl=0,
        warm_workers=False,
    )
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, PROJECT)
        budget = httpx.put(
            f"{server.url}/admin/projects/{PROJECT}/budget",
            json={"monthly_limit": LIMIT},
            headers=admin_headers(),
        )
        assert budget.status_code == 200
        auth = {"Authorization": f"Bearer {key}"}
        chat = {
            "model": "sonnet",
            "messages": [{"role": "user", "content": DOCUMENT}],
            "max_tokens": 100,
        }
        first = httpx.post(f"{server.url}/v1/chat/completions", json=chat, headers=auth, timeout=90)
        assert first.status_code == 200, first.text
        second = httpx.post(
            f"{server.url}/v1/chat/completions", json=chat, headers=auth, timeout=90
        )
        anthropic = httpx.post(
            f"{server.url}/v1/messages",
            json={"model": "sonnet", "max_tokens": 100, "messages": chat["messages"]},
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            timeout=90,
        )
        responses = httpx.post(
            f"{server.url}/v1/responses",
            json={"model": "sonnet", "input": DOCUMENT, "max_output_tokens": 100},
            headers=auth,
            timeout=90,
        )
        for answer in (second, anthropic, responses):
            assert answer.status_code == 200, answer.text
        rows = usage_rows(server.url, key, 4)
        used = used_tokens(server.url, key)

    upstream = [m.body for m in fake_upstream.messages]
    assert len(upstream) == 4
    # OpenAI chat: the first call wrote the prompt; the same prompt again is read from the cache.
    u1, u2 = first.json()["usage"], second.json()["usage"]
    assert u1["prompt_tokens_details"]["cached_tokens"] == 0
    read = u2["prompt_tokens_details"]["cached_tokens"]
    assert read > 1024 and u2["prompt_tokens"] >= read
    # Anthropic: the two fields, input_tokens being the uncached rest.
    a = anthropic.json()["usage"]
    assert a["cache_read_input_tokens"] > 1024
    assert (
        a["input_tokens"] + a["cache_read_input_tokens"] + a["cache_creation_input_tokens"]
        == (u2["prompt_tokens"])
    )
    # Responses API: input_tokens counts everything, its details the cache read.
    r = responses.json()["usage"]
    assert r["input_tokens_details"]["cached_tokens"] > 1024
    assert r["input_tokens"] >= r["input_tokens_details"]["cached_tokens"]

    # Usage rows keep the split; the first row is the cache write.
    ok = [row for row in rows if row["status"] == "ok"]
    assert len(ok) == 4
    ok.sort(key=lambda row: str(row["timestamp"]))
    assert ok[0]["cache_creation_tokens"] > 1024 and ok[0]["cache_read_tokens"] == 0
    assert ok[1]["cache_read_tokens"] == read
    assert ok[2]["cache_read_tokens"] == a["cache_read_input_tokens"]
    assert ok[2]["input_tokens"] == a["input_tokens"]
    # The budget is charged reads at 0.1x and writes at 1.25x, not the raw token count.
    billed = [
        billed_tokens(
            Usage(
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cache_creation_input_tokens=row["cache_creation_tokens"],
                cache_read_input_tokens=row["cache_read_tokens"],
            )
        )
        for row in ok
    ]
    assert used == sum(billed)
    raw = sum(row["tokens"] for row in ok)
    assert used < raw * 0.6  # three of four prompts were read at a tenth of the price
