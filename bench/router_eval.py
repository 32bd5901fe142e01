"""Evaluate the model auto-router on labeled workloads.

Four labeled sets under ``bench/data/`` (docs/ROUTING.md tells their story): the development
set ``router_eval.jsonl`` (171 items), two sets written blind and then used for tuning
(``router_holdout.jsonl``, ``router_test.jsonl``) and a final blind set never used for tuning
(``router_blind.jsonl``). Each item is a realistic prompt labeled with the cheapest tier adequate
for it (``haiku`` < ``sonnet`` < ``opus``) and an estimate of its answer length in tokens.
Long-context items store only a question and a document recipe (a seed of paragraph templates
from ``router_eval_seeds.json`` repeated up to ``target_tokens``), so the data files stay small
and the documents are rebuilt identically on every run.

Reported for every (rules, data set) pair: accuracy, under-routing (a task sent to a weaker
tier than it needs), over-routing, the confusion matrix, per-category numbers, and the cost of
the routed workload against sending everything to sonnet or to opus (``PriceTable`` defaults,
input = the shared token estimate, output = the item's labeled output tokens, the same on every
tier). Per data set, the feasibility of a cost target: what routing exactly by the labels saves
(the best any router can do without under-routing), and how few under-routed items would buy
"60 % below all-sonnet" (why the two targets must be read together).

    .venv/bin/python bench/router_eval.py [--rules PROFILE_OR_FILE ...] [--data FILE ...]
                                          [--pricing JSON] [--show-misroutes] [--out PATH]

Defaults: rules ``default`` and ``cost_aware``, both data sets; the first pair is printed in
full, the others as one summary line each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_code_api.pricing import TIERS, PriceTable
from claude_code_api.routing import Router, estimate_tokens, load_rules

sys.path.insert(0, str(Path(__file__).parent))
import outcome_eval

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_DATA = DATA_DIR / "router_eval.jsonl"
HOLDOUT_DATA = DATA_DIR / "router_holdout.jsonl"
TEST_DATA = DATA_DIR / "router_test.jsonl"
BLIND_DATA = DATA_DIR / "router_blind.jsonl"
DATA_SETS = (DEFAULT_DATA, HOLDOUT_DATA, TEST_DATA, BLIND_DATA)
DEFAULT_PROFILES = ("learned", "seed", "cost_aware")
#: The issue's cost target: routed cost at least this much below all-sonnet.
TARGET_SAVINGS_PCT = 60.0
DEFAULT_SEEDS = DATA_DIR / "router_eval_seeds.json"
DEFAULT_OUT = Path(__file__).parent / "results" / "router_eval.json"
CATEGORIES = (
    "chat",
    "extraction",
    "summarisation",
    "classification",
    "translation",
    "coding",
    "debugging",
    "architecture",
    "reasoning",
    "long_context",
)


@dataclass(frozen=True)
class EvalItem:
    """One labeled prompt (the document of long-context items already built in)."""

    id: str
    category: str
    label: str
    output_tokens: int
    prompt: str


def _fill(template: str, i: int) -> str:
    # Deterministic placeholder values derived from the paragraph counter.
    values = {
        "i": i,
        "t": f"{9 + i // 60 % 9:02d}:{i % 60:02d}",
        "q": 1 + i % 4,
        "m": i // 60 % 60,
        "s": i % 60,
        "lat": 20 + (i * 37) % 400,
        "c": 1000 + (i * 7919) % 9000,
        "code": 504,
        "hr": 80 + i % 19,
        "d": i % 10,
        "n": 10_000 + i,
        "v": 120 + i % 5,
        "a": 40 + i % 7,
        "b": 35 + i % 6,
        "g": 60 + i % 8,
        "g2": 10 + i % 9,
    }
    return template.format_map(values)


def build_document(seed: list[str], target_tokens: int) -> str:
    """Repeat the seed's templates (numbered) until the text reaches ``target_tokens``."""
    parts: list[str] = []
    i = 0
    text = ""
    while estimate_tokens(text) < target_tokens:
        # Grow by about the missing amount at once (per-paragraph estimates round up, so the
        # joined text is re-estimated rather than summed).
        missing = target_tokens - estimate_tokens(text)
        added = 0
        while added < missing:
            paragraph = _fill(seed[i % len(seed)], i)
            parts.append(paragraph)
            added += estimate_tokens(paragraph)
            i += 1
        text = "\n".join(parts)
    return text


def load_workload(path: Path = DEFAULT_DATA, seeds_path: Path = DEFAULT_SEEDS) -> list[EvalItem]:
    """Read and validate the labeled workload, building long-context documents."""
    seeds: dict[str, list[str]] = json.loads(seeds_path.read_text(encoding="utf-8"))["seeds"]
    items: list[EvalItem] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["label"] not in TIERS or raw["category"] not in CATEGORIES or raw["id"] in seen:
            raise ValueError(f"{path}:{n}: bad label, category or duplicate id: {raw['id']}")
        seen.add(raw["id"])
        prompt = raw["prompt"]
        doc = raw.get("document")
        if doc is not None:
            text = build_document(seeds[doc["seed"]], int(doc["target_tokens"]))
            prompt = f"{prompt}\n\n{text}" if doc["position"] == "after" else f"{text}\n\n{prompt}"
        items.append(
            EvalItem(raw["id"], raw["category"], raw["label"], int(raw["output_tokens"]), prompt)
        )
    return items


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _savings(cost: float, baseline: float) -> float:
    return round(100.0 * (1 - cost / baseline), 2) if baseline else 0.0


def evaluate(items: list[EvalItem], router: Router, prices: PriceTable) -> dict[str, Any]:
    """Route every item and compute the metrics (see the module docstring)."""
    rank = {t: i for i, t in enumerate(TIERS)}
    confusion = {label: dict.fromkeys(TIERS, 0) for label in TIERS}
    totals = {"routed": 0.0, "oracle": 0.0, **{f"all_{t}": 0.0 for t in TIERS}}
    # Items sonnet is adequate for (labeled haiku/sonnet): the fair ground for "vs all-sonnet".
    adequate = {"routed": 0.0, "all_sonnet": 0.0}
    per_cat: dict[str, dict[str, Any]] = {}
    misroutes: list[dict[str, Any]] = []
    correct = under = over = 0
    started = time.perf_counter()
    for item in items:
        decision = router.route(item.prompt)
        pred = decision.model
        tokens = estimate_tokens(item.prompt)
        cost = {t: prices.cost(t, tokens, item.output_tokens) for t in TIERS}
        confusion[item.label][pred] += 1
        totals["routed"] += cost[pred]
        totals["oracle"] += cost[item.label]
        for t in TIERS:
            totals[f"all_{t}"] += cost[t]
        if item.label != "opus":
            adequate["routed"] += cost[pred]
            adequate["all_sonnet"] += cost["sonnet"]
        cat = per_cat.setdefault(
            item.category,
            {"n": 0, "correct": 0, "under": 0, "over": 0, "routed_cost": 0.0, "sonnet_cost": 0.0},
        )
        cat["n"] += 1
        cat["routed_cost"] += cost[pred]
        cat["sonnet_cost"] += cost["sonnet"]
        if pred == item.label:
            correct += 1
            cat["correct"] += 1
            continue
        kind = "under" if rank[pred] < rank[item.label] else "over"
        if kind == "under":
            under += 1
        else:
            over += 1
        cat[kind] += 1
        misroutes.append(
            {
                "id": item.id,
                "label": item.label,
                "routed": pred,
                "kind": kind,
                "rule": decision.rule,
                "prompt": item.prompt[:100],
            }
        )
    elapsed = time.perf_counter() - started
    n = len(items)
    categories = {
        name: {
            "n": c["n"],
            "accuracy": _rate(c["correct"], c["n"]),
            "under_routing": _rate(c["under"], c["n"]),
            "over_routing": _rate(c["over"], c["n"]),
            "routed_cost_usd": round(c["routed_cost"], 6),
            "all_sonnet_cost_usd": round(c["sonnet_cost"], 6),
            "savings_vs_sonnet_pct": _savings(c["routed_cost"], c["sonnet_cost"]),
        }
        for name, c in sorted(per_cat.items())
    }
    return {
        "items": n,
        "labels": {t: sum(confusion[t].values()) for t in TIERS},
        "accuracy": _rate(correct, n),
        "under_routing_rate": _rate(under, n),
        "over_routing_rate": _rate(over, n),
        "confusion_matrix": {"rows_label_cols_routed": confusion},
        "cost_usd": {k: round(v, 6) for k, v in totals.items()},
        "savings_vs_all_sonnet_pct": _savings(totals["routed"], totals["all_sonnet"]),
        "savings_vs_all_opus_pct": _savings(totals["routed"], totals["all_opus"]),
        "oracle_savings_vs_all_sonnet_pct": _savings(totals["oracle"], totals["all_sonnet"]),
        # Routed cost over the cost of routing every item to its label (1.0 = as cheap as a
        # perfect router; below 1.0 only by under-routing).
        "cost_vs_label_perfect_ratio": round(totals["routed"] / totals["oracle"], 3)
        if totals["oracle"]
        else 0.0,
        "savings_vs_all_sonnet_on_sonnet_adequate_items_pct": _savings(
            adequate["routed"], adequate["all_sonnet"]
        ),
        "routing_ms_per_item": round(1000 * elapsed / n, 3) if n else 0.0,
        "by_category": categories,
        "misroutes": misroutes,
    }


def feasibility(
    items: list[EvalItem], prices: PriceTable, target_pct: float = TARGET_SAVINGS_PCT
) -> dict[str, Any]:
    """What a cost target asks of any router on these items.

    ``oracle_savings_vs_all_sonnet_pct``: routing every item to its label (zero under-routing,
    zero over-routing); ``..._if_sonnet_did_opus_work_pct``: the same if no task needed opus
    (opus-labeled items priced at sonnet), the most a router could save with no opus at all.
    ``under_routed_items_for_target``: the fewest items that, sent to haiku instead of their
    label (largest saving first), bring the cost to ``target_pct`` below all-sonnet; ``None``
    when not even all-haiku does.
    """
    costs = [
        {t: prices.cost(t, estimate_tokens(item.prompt), item.output_tokens) for t in TIERS}
        for item in items
    ]
    all_sonnet = sum(c["sonnet"] for c in costs)
    oracle = sum(c[item.label] for c, item in zip(costs, items, strict=True))
    no_opus = sum(
        c["sonnet" if item.label == "opus" else item.label]
        for c, item in zip(costs, items, strict=True)
    )
    goal = all_sonnet * (1 - target_pct / 100)
    gains = sorted(
        (c[item.label] - c["haiku"] for c, item in zip(costs, items, strict=True)), reverse=True
    )
    needed: int | None = None
    cost = oracle
    for n, gain in enumerate([0.0, *gains]):
        cost -= gain
        if cost <= goal + 1e-12:
            needed = n
            break
    return {
        "target_savings_vs_all_sonnet_pct": target_pct,
        "oracle_savings_vs_all_sonnet_pct": _savings(oracle, all_sonnet),
        "oracle_savings_if_sonnet_did_opus_work_pct": _savings(no_opus, all_sonnet),
        "all_haiku_savings_vs_all_sonnet_pct": _savings(sum(c["haiku"] for c in costs), all_sonnet),
        "under_routed_items_for_target": needed,
        "under_routing_rate_for_target": _rate(needed, len(items)) if needed is not None else None,
    }


def _print(report: dict[str, Any], show_misroutes: bool) -> None:
    print(
        f"rules: {report['rules']}   data: {report['data']}   items: {report['items']}   "
        f"labels: {report['labels']}"
    )
    print(
        f"accuracy {report['accuracy']:.1%}   under-routing {report['under_routing_rate']:.1%}"
        f"   over-routing {report['over_routing_rate']:.1%}"
    )
    print("confusion (rows = label, cols = routed):   " + "  ".join(f"{t:>6}" for t in TIERS))
    for label, row in report["confusion_matrix"]["rows_label_cols_routed"].items():
        print(f"  {label:>6}{'':36}" + "  ".join(f"{row[t]:>6}" for t in TIERS))
    cost = report["cost_usd"]
    print(
        f"cost USD: routed {cost['routed']:.4f}   all-haiku {cost['all_haiku']:.4f}   "
        f"all-sonnet {cost['all_sonnet']:.4f}   all-opus {cost['all_opus']:.4f}   "
        f"oracle {cost['oracle']:.4f}"
    )
    print(
        f"savings: {report['savings_vs_all_sonnet_pct']:.1f}% vs all-sonnet, "
        f"{report['savings_vs_all_opus_pct']:.1f}% vs all-opus "
        f"(oracle labels: {report['oracle_savings_vs_all_sonnet_pct']:.1f}% vs all-sonnet)"
    )
    print(
        "savings vs all-sonnet on the items sonnet is adequate for (labels haiku/sonnet): "
        f"{report['savings_vs_all_sonnet_on_sonnet_adequate_items_pct']:.1f}%"
    )
    print(f"{'category':<15}{'n':>4}{'acc':>8}{'under':>8}{'over':>8}{'save%':>9}")
    for name, c in report["by_category"].items():
        print(
            f"{name:<15}{c['n']:>4}{c['accuracy']:>8.0%}{c['under_routing']:>8.0%}"
            f"{c['over_routing']:>8.0%}{c['savings_vs_sonnet_pct']:>9.1f}"
        )
    if show_misroutes:
        for m in report["misroutes"]:
            print(
                f"  {m['kind']:>5} {m['id']:<18} {m['label']:>6} -> {m['routed']:<6} "
                f"[{m['rule']}] {m['prompt'][:70]!r}"
            )


def _summary_line(report: dict[str, Any]) -> str:
    return (
        f"  {report['rules']:<12} {report['data']:<22} {report['items']:>5} "
        f"{report['accuracy']:>8.1%} {report['under_routing_rate']:>7.1%} "
        f"{report['over_routing_rate']:>7.1%} {report['savings_vs_all_sonnet_pct']:>10.1f}% "
        f"{report['savings_vs_all_sonnet_on_sonnet_adequate_items_pct']:>10.1f}% "
        f"{report['cost_vs_label_perfect_ratio']:>8.2f}x"
    )


def _router(name: str, prices: PriceTable, strong_share: float | None) -> Router:
    if name == "learned":
        if strong_share is None:
            return Router(prices=prices)
        return Router(prices=prices, strong_share=strong_share)
    return Router(load_rules(name), prices)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation, print a summary and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, action="append", help="labeled JSONL (repeatable)")
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    parser.add_argument("--rules", action="append", help="rules profile name or file (repeatable)")
    parser.add_argument(
        "--pricing",
        type=json.loads,
        default=None,
        help='per-1K-token prices as CCAPI_PRICING takes them, e.g. \'{"haiku": {"input": 0.001, '
        '"output": 0.005}}\' (default: the PriceTable defaults)',
    )
    parser.add_argument(
        "--strong-share",
        type=float,
        default=None,
        help="the learned router's operating point (default: CCAPI_ROUTER_STRONG_SHARE's default)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--show-misroutes", action="store_true")
    args = parser.parse_args(argv)
    data_paths = args.data or list(DATA_SETS)
    rule_names = args.rules or list(DEFAULT_PROFILES)
    prices = PriceTable(args.pricing)
    workloads = {path: load_workload(path, args.seeds) for path in data_paths}
    runs: list[dict[str, Any]] = []
    routers = {name: _router(name, prices, args.strong_share) for name in rule_names}
    for rules, router in routers.items():
        for path, items in workloads.items():
            report = {"rules": rules, "data": path.name, **evaluate(items, router, prices)}
            if not runs:
                _print(report, args.show_misroutes)
            runs.append(report)
    print(
        f"\n  {'rules':<12} {'data':<22} {'items':>5} {'accuracy':>8} {'under':>7} "
        f"{'over':>7} {'vs sonnet':>11} {'adequate*':>11} {'vs perfect':>9}"
    )
    for report in runs:
        print(_summary_line(report))
    print(
        "  * savings vs all-sonnet on the items labeled haiku or sonnet; vs perfect: routed cost "
        "over the cost of routing every item to its label"
    )
    feasible = {path.name: feasibility(items, prices) for path, items in workloads.items()}
    for name, f in feasible.items():
        needed = f["under_routed_items_for_target"]
        print(
            f"{name}: routing exactly by the labels saves "
            f"{f['oracle_savings_vs_all_sonnet_pct']:.1f}% vs all-sonnet (target "
            f"{f['target_savings_vs_all_sonnet_pct']:.0f}%; "
            f"{f['oracle_savings_if_sonnet_did_opus_work_pct']:.1f}% if no task needed opus); "
            "under-routing the costliest "
            + (
                f"{needed} items ({f['under_routing_rate_for_target']:.1%}) to haiku would reach it"
                if needed is not None
                else "items cannot reach it"
            )
        )
    outcomes = outcome_eval.run(routers, prices)
    result = {
        "pricing": args.pricing or "default",
        "outcomes": outcomes,
        "runs": runs,
        "feasibility": feasible,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
