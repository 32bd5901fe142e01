"""bench/cost_savings.py: its fixed workload and its prompt-caching price model (not its results).

The price model decides every number the benchmark reports, so it is checked against the rules
it claims to follow (``../shared/CLI-FACTS.md``): a prefix is cached only at a breakpoint and
only when long enough, later requests read it at 0.1x, a changed earlier block breaks the match.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("cost_savings", BENCH / "cost_savings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_savings"] = module
    spec.loader.exec_module(module)
    return module


def call(
    blocks: list[tuple[str, bool]],
    *,
    model: str = "claude-sonnet-5",
    t: float = 0.0,
    system: str | None = None,
) -> dict[str, Any]:
    """An upstream call whose one user message holds ``blocks`` (text, breakpoint), after an
    optional system block without a breakpoint."""
    content = [
        {"type": "text", "text": text, **({"cache_control": {"type": "ephemeral"}} if bp else {})}
        for text, bp in blocks
    ]
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if system is not None:
        body["system"] = [{"type": "text", "text": system}]
    return {"t": t, "body": body, "output": 10, "thinking": 0}


def test_the_workload_is_the_documented_one(bench: ModuleType) -> None:
    requests, sources = bench.load_workload()
    counts = Counter(r.category for r in requests)
    assert counts == {
        "chat": 10,
        "extraction": 6,
        "summarisation": 3,
        "coding": 11,
        "multi_turn": 12,
        "repeated": 6,
    }
    assert set(sources) == {"self-instruct", "mbpp", "this-project"}
    raw = (BENCH / "data" / "cost_workload.json").read_text(encoding="utf-8").lower()
    for reserved in ("mt-bench", "mt_bench", "arena", "lmsys"):
        assert reserved not in raw  # reserved for independent evaluation
    assert all(r.answer_tokens > 0 and r.messages[-1]["content"].strip() for r in requests)
    data = json.loads(raw)
    assert all(item["source"].split(":")[0] in sources for item in data["single_turn"])


def test_a_long_prefix_is_written_once_then_read(bench: ModuleType) -> None:
    doc = "word " * 6000  # ~1,500 tokens at 4 characters each: over sonnet's 1,024 minimum
    first = bench.price_requests([call([(doc, True)])])
    assert first.cache_read == 0
    assert first.cache_write > 1024 and first.uncached == 0
    # the same prefix again, then a new block after it: the prefix is read at 0.1x and only the
    # new block is written
    again = call([(doc, False), ("more", True)], t=1)
    two = bench.price_requests([call([(doc, True)]), again])
    tokens = first.cache_write
    assert two.cache_read == tokens and 0 < two.cache_write - tokens < 10
    expected = 3 * (1.25 * two.cache_write + 0.1 * tokens) + 2 * 10 * 15
    assert two.usd == pytest.approx(expected / 1e6)


def test_short_prefixes_expired_entries_and_other_models_are_not_read(bench: ModuleType) -> None:
    short = bench.price_requests([call([("hi", True)]), call([("hi", True)], t=1)])
    assert short.cache_write == short.cache_read == 0  # under the minimum: never cached
    doc = "word " * 6000
    late = bench.price_requests([call([(doc, True)]), call([(doc, True)], t=301)])
    assert late.cache_read == 0  # the 5-minute TTL passed
    other = bench.price_requests(
        [call([(doc, True)]), call([(doc, True)], model="claude-opus-4-5", t=1)]
    )
    assert other.cache_read == 0 and other.by_tier == {"sonnet": 1, "opus": 1}


def test_a_changed_earlier_block_breaks_the_match_unless_it_is_the_billing_header(
    bench: ModuleType,
) -> None:
    doc = "word " * 6000
    a = call([(doc, True)], system="x-anthropic-billing-header: cc_version=2.1.197.abc;")
    b = call([(doc, True)], system="x-anthropic-billing-header: cc_version=2.1.197.def;", t=1)
    assert bench.price_requests([a, b]).cache_read == 0
    assert bench.price_requests([a, b], ignore_billing_header=True).cache_read > 1024


def test_the_direct_baseline_is_sonnet_without_caching(bench: ModuleType) -> None:
    requests, _ = bench.load_workload()
    history = {r.id: list(r.messages) for r in requests}
    bill = bench.price_direct(requests, history)
    assert bill.by_tier == {"sonnet": len(requests)}
    assert bill.cache_write == bill.cache_read == bill.thinking == 0
    assert bill.output == sum(r.answer_tokens for r in requests)
