"""The fake upstream's prompt-caching accounting, directly and over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes.prompt_cache import (
    CacheControlError,
    PromptCache,
    min_cacheable_tokens,
    request_blocks,
    total_tokens,
)
from tests.fakes.upstream import FakeAnthropic

SONNET = "claude-sonnet-5"
HAIKU = "claude-haiku-4-5-20251001"
BP = {"type": "ephemeral"}


class Clock:
    """A settable clock (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text(chars: int, seed: str = "a", breakpoint: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": (seed * chars)[:chars]}
    if breakpoint:
        block["cache_control"] = dict(BP)
    return block


def chat(turns: list[tuple[str, str]], new: str, model: str = SONNET) -> dict[str, Any]:
    """A request like the CLI's ``--resume``: earlier turns as messages, the breakpoint on the
    last block only."""
    messages: list[dict[str, Any]] = []
    for user, assistant in turns:
        messages.append({"role": "user", "content": [{"type": "text", "text": user}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": assistant}]})
    messages.append(
        {"role": "user", "content": [{"type": "text", "text": new, "cache_control": BP}]}
    )
    return {
        "model": model,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": BP}],
        "messages": messages,
    }


def test_min_cacheable_table() -> None:
    assert min_cacheable_tokens(HAIKU) == 4096
    assert min_cacheable_tokens("claude-opus-4-5-20251101") == 4096
    assert min_cacheable_tokens("claude-sonnet-4-5") == 1024
    assert min_cacheable_tokens(SONNET) == 1024
    assert min_cacheable_tokens("claude-3-5-haiku-20241022") == 2048


def test_write_then_read_the_same_prefix() -> None:
    cache = PromptCache(Clock())
    body = {"model": SONNET, "system": [text(8000, breakpoint=True)], "messages": []}
    total = total_tokens(body)
    first = cache.account(body)
    assert first.cache_read_input_tokens == 0
    assert first.cache_creation_input_tokens == total == first.ephemeral_5m_input_tokens
    assert first.input_tokens == 0
    second = cache.account(body)
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens) == (total, 0)
    assert second.input_tokens == 0
    assert len(cache) == 1


def test_uncached_rest_is_input_and_the_parts_add_up() -> None:
    cache = PromptCache(Clock())
    body = {
        "model": SONNET,
        "system": [text(8000, breakpoint=True)],
        "messages": [{"role": "user", "content": "x" * 400}],
    }
    usage = cache.account(body)
    assert usage.cache_creation_input_tokens == request_blocks(body)[0].chars // 4
    assert usage.input_tokens > 90
    parts = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    assert parts == total_tokens(body)


def test_resume_shape_reads_the_previous_breakpoint_within_the_lookback() -> None:
    cache = PromptCache(Clock())
    first = chat([], "q" * 6000)
    turn1 = cache.account(first)
    assert turn1.cache_read_input_tokens == 0 and turn1.cache_creation_input_tokens > 1500
    second = chat([("q" * 6000, "answer one")], "next question")
    turn2 = cache.account(second)
    # The prefix the first turn wrote (system + first user block) is 2 blocks back: a read.
    assert turn2.cache_read_input_tokens == turn1.cache_creation_input_tokens
    assert turn2.cache_creation_input_tokens == total_tokens(second) - turn2.cache_read_input_tokens
    assert turn2.input_tokens == 0


def test_lookback_is_twenty_blocks() -> None:
    def body(extra: int) -> dict[str, Any]:
        blocks = [text(6000, "p")] + [text(10, str(i % 10)) for i in range(extra)]
        blocks[-1] = dict(blocks[-1], cache_control=BP)
        return {"model": SONNET, "messages": [{"role": "user", "content": blocks}]}

    for extra, read in ((20, True), (21, False)):
        cache = PromptCache(Clock())
        seed = body(0)  # writes the prefix that ends at the first block
        cache.account(seed)
        usage = cache.account(body(extra))
        assert (usage.cache_read_input_tokens > 0) is read, extra


def test_longest_matching_prefix_wins() -> None:
    cache = PromptCache(Clock())
    base = [text(6000, "a"), text(6000, "b"), text(50, "c")]
    short = {
        "model": SONNET,
        "messages": [{"role": "user", "content": [dict(base[0], cache_control=BP)]}],
    }
    long = {
        "model": SONNET,
        "messages": [{"role": "user", "content": [base[0], dict(base[1], cache_control=BP)]}],
    }
    cache.account(short)
    cache.account(long)
    both = {
        "model": SONNET,
        "messages": [{"role": "user", "content": [*base[:2], dict(base[2], cache_control=BP)]}],
    }
    usage = cache.account(both)
    assert (
        usage.cache_read_input_tokens
        == (request_blocks(long)[0].chars + request_blocks(long)[1].chars) // 4
    )


def test_below_the_minimum_is_neither_written_nor_read() -> None:
    cache = PromptCache(Clock())
    body = {"model": HAIKU, "system": [text(8000, breakpoint=True)], "messages": []}
    assert total_tokens(body) < 4096  # 2000 tokens: enough for sonnet, not for haiku 4.5
    for _ in range(2):
        usage = cache.account(body)
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
        assert usage.input_tokens == total_tokens(body)
    assert len(cache) == 0
    sonnet = cache.account(dict(body, model=SONNET))
    assert sonnet.cache_creation_input_tokens == total_tokens(body)


def test_entries_expire_after_five_minutes_and_reads_refresh_them() -> None:
    clock = Clock()
    cache = PromptCache(clock)
    body = {"model": SONNET, "system": [text(8000, breakpoint=True)], "messages": []}
    cache.account(body)
    clock.now += 299
    assert cache.account(body).cache_read_input_tokens > 0  # refreshed: lives until +599
    clock.now += 299
    assert cache.account(body).cache_read_input_tokens > 0
    clock.now += 301
    expired = cache.account(body)
    assert expired.cache_read_input_tokens == 0 and expired.cache_creation_input_tokens > 0
    one_hour = {
        "model": SONNET,
        "system": [dict(text(9000), cache_control={"type": "ephemeral", "ttl": "1h"})],
    }
    assert cache.account(one_hour).ephemeral_1h_input_tokens > 0
    clock.now += 3000
    assert cache.account(one_hour).cache_read_input_tokens > 0


def test_keyed_by_model_content_and_turn_structure() -> None:
    cache = PromptCache(Clock())
    words = "w" * 6000
    one = {
        "model": SONNET,
        "messages": [
            {"role": "user", "content": [text(10), dict(text(6000, "w"), cache_control=BP)]}
        ],
    }
    cache.account(one)
    assert cache.account(one).cache_read_input_tokens > 0
    assert cache.account(dict(one, model="claude-opus-4-1")).cache_read_input_tokens == 0
    # The same text split over two messages, or with another role, is another prefix.
    split = {
        "model": SONNET,
        "messages": [
            {"role": "user", "content": [text(10)]},
            {"role": "user", "content": [{"type": "text", "text": words, "cache_control": BP}]},
        ],
    }
    assert cache.account(split).cache_read_input_tokens == 0
    changed = json.loads(json.dumps(one))
    changed["messages"][0]["content"][1]["text"] = "v" + words[1:]
    assert cache.account(changed).cache_read_input_tokens == 0
    # A string content is the same as one text block; cache_control is not part of the key.
    assert request_blocks({"messages": [{"role": "user", "content": "hi"}]})[0].key == (
        request_blocks(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "hi", "cache_control": BP}],
                    }
                ]
            }
        )[0].key
    )


def test_tools_and_automatic_caching() -> None:
    cache = PromptCache(Clock())
    tools = [
        {"name": f"t{i}", "description": "d" * 1500, "input_schema": {"type": "object"}}
        for i in range(4)
    ]
    tools[-1]["cache_control"] = BP
    body = {"model": SONNET, "tools": tools, "messages": [{"role": "user", "content": "hello"}]}
    first = cache.account(body)
    assert first.cache_creation_input_tokens == sum(b.chars for b in request_blocks(body)[:4]) // 4
    assert (
        cache.account(
            dict(body, messages=[{"role": "user", "content": "other"}])
        ).cache_read_input_tokens
        == first.cache_creation_input_tokens
    )
    auto = {
        "model": SONNET,
        "cache_control": BP,
        "messages": [{"role": "user", "content": "z" * 6000}],
    }
    assert cache.account(auto).cache_creation_input_tokens == total_tokens(auto)


def test_more_than_four_breakpoints_is_refused() -> None:
    body = {"model": SONNET, "system": [text(10, breakpoint=True) for _ in range(5)]}
    with pytest.raises(CacheControlError):
        PromptCache().account(body)
    with FakeAnthropic() as upstream:
        answer = httpx.post(
            f"{upstream.url}/v1/messages", json=dict(body, max_tokens=5, messages=[])
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_usage_in_message_start_and_message_delta() -> None:
    body = chat([], "q" * 6000)
    with FakeAnthropic() as upstream:
        plain = httpx.post(f"{upstream.url}/v1/messages", json=dict(body, max_tokens=50)).json()
        assert plain["usage"]["cache_creation_input_tokens"] > 1500
        stream = dict(body, max_tokens=50, stream=True)
        with httpx.stream("POST", f"{upstream.url}/v1/messages", json=stream) as response:
            events = [json.loads(x[6:]) for x in response.iter_lines() if x.startswith("data: ")]
    start = events[0]["message"]["usage"]
    delta = next(e for e in events if e["type"] == "message_delta")["usage"]
    assert start["cache_read_input_tokens"] == plain["usage"]["cache_creation_input_tokens"]
    assert start["cache_creation_input_tokens"] == 0
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        assert delta[key] == start[key]
    assert delta["output_tokens"] > 1
