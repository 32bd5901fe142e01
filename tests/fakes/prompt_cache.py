"""Anthropic's prompt-caching accounting, for the fake upstream (no network, no model).

What it follows (Anthropic's prompt-caching documentation, and /work/shared/CLI-FACTS.md):

- A request is a list of blocks in the order the API reads it: ``tools``, then ``system``,
  then each message's content blocks (a string is one text block). Breakpoints are the blocks
  with ``cache_control`` (at most 4; more is a 400), plus the last block when the request has a
  top-level ``cache_control`` (automatic caching).
- At each breakpoint the cache is looked up for the prefix ending there and for the prefixes
  ending up to 20 blocks before it; the longest prefix found is read.
- Every breakpoint past the hit whose prefix reaches the model's minimum is written: the
  tokens from the hit to the last such breakpoint are ``cache_creation_input_tokens``, what
  follows is ``input_tokens``. A prefix shorter than the minimum is neither written nor read.
- Entries live 5 minutes (``"ttl": "1h"``: an hour), refreshed each time they are read.
- A prefix is identified by the model and the exact canonical JSON of its blocks (sorted keys,
  no whitespace, ``cache_control`` left out, each block tagged with its place: tool, system
  or message index and role), so the same text in another turn structure never matches.
- Tokens are the fake's usual estimate, characters / 4, of the blocks' canonical JSON;
  ``input + cache_creation + cache_read`` is the whole prompt's count.

    cache = PromptCache()
    usage = cache.account(body)   # reads, writes and refreshes entries
    usage.cache_read_input_tokens
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Blocks before a breakpoint that are checked for an earlier cached prefix.
LOOKBACK = 20
#: More ``cache_control`` blocks than this is a 400 from the real API.
MAX_BREAKPOINTS = 4
#: Entry lifetimes by ``cache_control.ttl``.
TTLS = {"5m": 300.0, "1h": 3600.0}
#: Minimum cacheable prefix (tokens) by model family, first match wins (Anthropic's table:
#: Opus 4.6 / 4.5 and Haiku 4.5 4096, Haiku 3.5 / 3 2048, every Sonnet and Opus 4.1 / 4 1024).
MIN_CACHEABLE: tuple[tuple[str, int], ...] = (
    ("haiku-4-5", 4096),
    ("opus-4-5", 4096),
    ("opus-4-6", 4096),
    ("3-5-haiku", 2048),
    ("3-haiku", 2048),
)
DEFAULT_MIN_CACHEABLE = 1024


class CacheControlError(ValueError):
    """The request's ``cache_control`` is one the real API refuses (a 400)."""


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix (tokens) the model caches.

    >>> min_cacheable_tokens("claude-haiku-4-5-20251001"), min_cacheable_tokens("claude-sonnet-5")
    (4096, 1024)
    """
    name = model.lower()
    for family, tokens in MIN_CACHEABLE:
        if family in name:
            return tokens
    return DEFAULT_MIN_CACHEABLE


def tokens_of(chars: int) -> int:
    """The fake's token estimate: characters / 4."""
    return chars // 4


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a request as the cache sees it."""

    key: str  # canonical JSON of the block and its place, cache_control left out
    chars: int  # size of the block's own canonical JSON
    ttl: float | None  # the breakpoint's lifetime; None when the block is no breakpoint


def _without_cache_control(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    clean = {k: v for k, v in block.items() if k != "cache_control"}
    if isinstance(clean.get("content"), list):  # tool_result content blocks
        clean["content"] = [_without_cache_control(b) for b in clean["content"]]
    return clean


def _ttl_of(block: Any) -> float | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    if not isinstance(control, dict):
        return None
    if control.get("type") != "ephemeral":
        raise CacheControlError(f"cache_control.type must be 'ephemeral', not {control!r}")
    ttl = control.get("ttl", "5m")
    if ttl not in TTLS:
        raise CacheControlError(f"cache_control.ttl must be '5m' or '1h', not {ttl!r}")
    return TTLS[ttl]


def _block(place: dict[str, Any], raw: Any) -> Block:
    clean = _without_cache_control(raw)
    return Block(canonical({**place, "block": clean}), len(canonical(clean)), _ttl_of(raw))


def request_blocks(body: dict[str, Any]) -> list[Block]:
    """The request's blocks in the order the API caches them (tools, system, messages)."""
    blocks = [_block({"at": "tool"}, tool) for tool in body.get("tools") or []]
    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    blocks += [_block({"at": "system"}, block) for block in system]
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        place = {"at": "message", "index": index, "role": message.get("role")}
        blocks += [_block(place, block) for block in content or []]
    top = body.get("cache_control")
    if top is not None and blocks and blocks[-1].ttl is None:  # automatic caching
        last = blocks[-1]
        blocks[-1] = Block(last.key, last.chars, _ttl_of({"cache_control": top}))
    return blocks


def total_tokens(body: dict[str, Any]) -> int:
    """The whole prompt's token count (what ``count_tokens`` answers)."""
    return max(1, tokens_of(sum(block.chars for block in request_blocks(body))))


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """The input side of one answer's ``usage``."""

    input_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    def to_usage(self) -> dict[str, Any]:
        """The fields as the Messages API puts them in ``usage``."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
        }


class PromptCache:
    """One upstream's cache entries (thread-safe; ``clock`` in seconds, injectable)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # digest -> (expires at, ttl)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def _expire(self, now: float) -> None:
        for digest in [d for d, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[digest]

    def account(self, body: dict[str, Any]) -> CacheUsage:
        """Look up, write and refresh this request's prefixes; returns its input usage.

        Raises:
            CacheControlError: more than 4 breakpoints, or a ``cache_control`` the API refuses.
        """
        blocks = request_blocks(body)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise CacheControlError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(breakpoints)}."
            )
        prefix_tokens, digests, chars = [], [], 0
        running = hashlib.sha256(canonical(str(body.get("model") or "")).encode())
        for block in blocks:
            chars += block.chars
            prefix_tokens.append(tokens_of(chars))
            running.update(b"\n" + block.key.encode())
            digests.append(running.hexdigest())
        total = max(1, tokens_of(chars))
        minimum = min_cacheable_tokens(str(body.get("model") or ""))
        with self._lock:
            now = self.clock()
            self._expire(now)
            hit = -1
            for point in breakpoints:
                for end in range(point, max(hit, point - LOOKBACK - 1), -1):
                    if prefix_tokens[end] < minimum:
                        break
                    if digests[end] in self._entries:
                        hit = end
                        break
            if hit >= 0:  # a read refreshes the entry's lifetime
                ttl = self._entries[digests[hit]][1]
                self._entries[digests[hit]] = (now + ttl, ttl)
            written, by_ttl = hit, {300.0: 0, 3600.0: 0}
            for point in breakpoints:
                ttl = blocks[point].ttl
                if point <= hit or prefix_tokens[point] < minimum or ttl is None:
                    continue
                old = self._entries.get(digests[point], (0.0, 0.0))[1]
                self._entries[digests[point]] = (now + max(ttl, old), max(ttl, old))
                start = prefix_tokens[written] if written >= 0 else 0
                by_ttl[ttl] = by_ttl.get(ttl, 0) + prefix_tokens[point] - start
                written = point
        read = prefix_tokens[hit] if hit >= 0 else 0
        created = (prefix_tokens[written] if written >= 0 else 0) - read
        return CacheUsage(
            input_tokens=max(0, total - read - created),
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
            ephemeral_5m_input_tokens=by_ttl[300.0],
            ephemeral_1h_input_tokens=by_ttl[3600.0],
        )
