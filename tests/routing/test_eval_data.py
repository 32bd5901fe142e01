"""The router evaluation's labeled workload loads and covers every category (not its scores)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

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


@pytest.mark.parametrize("name", ["HOLDOUT_DATA", "TEST_DATA", "BLIND_DATA"])
def test_blind_sets_load_and_cover_every_category(name: str) -> None:
    bench = load_bench()
    items = bench.load_workload(getattr(bench, name))
    assert len(items) >= 90
    assert {item.category for item in items} == set(bench.CATEGORIES)
    assert {item.label for item in items} == set(TIERS)
    long_items = [item for item in items if item.category == "long_context"]
    assert long_items and all(estimate_tokens(item.prompt) > 10_000 for item in long_items)


def test_long_context_documents_are_deterministic() -> None:
    bench = load_bench()
    seed = ["Paragraph {i} at {t}.", "Note {n}."]
    first = bench.build_document(seed, 500)
    assert first == bench.build_document(seed, 500)
    assert estimate_tokens(first) >= 500
    assert first.startswith("Paragraph 0 at 09:00.\nNote 10001.")


def test_feasibility_reports_the_oracle_and_the_under_routing_a_cost_target_needs() -> None:
    bench = load_bench()
    prices = bench.PriceTable()
    items = [
        bench.EvalItem("a", "chat", "haiku", 100, "x" * 400),
        bench.EvalItem("b", "reasoning", "opus", 1000, "y" * 400),
    ]
    cost = {
        (item.id, tier): prices.cost(tier, estimate_tokens(item.prompt), item.output_tokens)
        for item in items
        for tier in TIERS
    }
    all_sonnet = cost["a", "sonnet"] + cost["b", "sonnet"]
    report = bench.feasibility(items, prices, target_pct=60.0)
    oracle = cost["a", "haiku"] + cost["b", "opus"]
    assert report["oracle_savings_vs_all_sonnet_pct"] == round(100 * (1 - oracle / all_sonnet), 2)
    assert report["oracle_savings_vs_all_sonnet_pct"] < 0  # the opus item dominates
    no_opus = cost["a", "haiku"] + cost["b", "sonnet"]
    assert report["oracle_savings_if_sonnet_did_opus_work_pct"] == round(
        100 * (1 - no_opus / all_sonnet), 2
    )
    # Sending the opus item to haiku alone reaches the target: one under-routed item in two.
    assert (report["under_routed_items_for_target"], report["under_routing_rate_for_target"]) == (
        1,
        0.5,
    )
    all_haiku = report["all_haiku_savings_vs_all_sonnet_pct"]
    unreachable = bench.feasibility(items, prices, target_pct=all_haiku + 1)
    assert unreachable["under_routed_items_for_target"] is None
    # A target the labels already meet needs no under-routing.
    assert bench.feasibility(items[:1], prices)["under_routed_items_for_target"] == 0


def test_eval_runs_every_profile_on_every_data_set(tmp_path: Path) -> None:
    bench = load_bench()
    out = tmp_path / "report.json"
    assert bench.main(["--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    pairs = {(run["rules"], run["data"]) for run in report["runs"]}
    data_sets = {path.name for path in bench.DATA_SETS}
    assert pairs == {(rules, data) for rules in bench.DEFAULT_PROFILES for data in data_sets}
    assert set(report["feasibility"]) == data_sets
    for run in report["runs"]:
        assert 0 <= run["under_routing_rate"] <= 1 and run["items"] >= 1
