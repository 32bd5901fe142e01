"""The router evaluation's labeled workload loads and covers every category (not its scores)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from claude_code_api.pricing import TIERS
from claude_code_api.routing import estimate_tokens

BENCH = Path(__file__).resolve().parents[2] / "bench" / "router_eval.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("router_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["router_eval"] = module
    spec.loader.exec_module(module)
    return module


def test_eval_workload_loads_with_enough_items_in_every_category() -> None:
    bench = load_bench()
    items = bench.load_workload()
    assert len(items) >= 150
    categories = Counter(item.category for item in items)
    assert set(categories) == set(bench.CATEGORIES)
    assert min(categories.values()) >= 5
    assert {item.label for item in items} == set(TIERS)
    assert len({item.id for item in items}) == len(items)
    assert all(item.prompt.strip() and item.output_tokens > 0 for item in items)
    long_items = [item for item in items if item.category == "long_context"]
    assert all(estimate_tokens(item.prompt) > 10_000 for item in long_items)


def test_long_context_documents_are_deterministic() -> None:
    bench = load_bench()
    seed = ["Paragraph {i} at {t}.", "Note {n}."]
    first = bench.build_document(seed, 500)
    assert first == bench.build_document(seed, 500)
    assert estimate_tokens(first) >= 500
    assert first.startswith("Paragraph 0 at 09:00.\nNote 10001.")
