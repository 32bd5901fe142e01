"""Routers on outcome-labelled data: the held-out test split of ``bench/_outcomes.py``.

Every prompt there carries whether the weak model (haiku's stand-in) and the strong model
(sonnet's stand-in) answered it correctly. A router's *quality* is the mean correctness of the
model it picks (haiku → weak, sonnet or opus → strong: the data has no opus outcomes). Reported
per router: ROC AUC of its score against "only the strong model is right", the share of calls
on the strong tier and the quality at its operating point, the strong-call share it needs for
95 % of all-strong quality (expected value over random tie-breaking, so a rule router's discrete
tiers are compared fairly), and the cost of its choices against all-sonnet and against
label-perfect routing (sonnet exactly where only the strong model is right). Cost per item:
``PriceTable`` with input = the shared token estimate and a fixed :data:`OUTPUT_TOKENS` output on
every tier (the data has no answer lengths).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _outcomes import Outcome, load
from claude_code_api.pricing import TIERS, PriceTable
from claude_code_api.routing import Router, estimate_tokens
from train_router import auc

OUTPUT_TOKENS = 256
QUALITY_TARGET = 0.95
TARGET_STRONG_SHARE = 0.30
CURVE_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)


def curve(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> tuple[np.ndarray, ...]:
    """(share, quality) points of sending the top-scored prompts strong, at score-group edges;
    linear in between (= random order within a group of equal scores)."""
    order = np.argsort(-scores, kind="mergesort")
    s, gain = scores[order], (strong.astype(float) - weak.astype(float))[order]
    edges = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    cum = np.r_[0.0, np.cumsum(gain)]
    points = np.r_[edges, len(s)]
    shares = points / len(s)
    quality = (weak.sum() + cum[points]) / len(s)
    return shares, quality


def share_for(quality_goal: float, shares: np.ndarray, quality: np.ndarray) -> float | None:
    """The smallest strong share whose (interpolated) quality reaches ``quality_goal``."""
    for i in range(1, len(shares)):
        if quality[i] >= quality_goal:
            q0, q1 = quality[i - 1], quality[i]
            if q0 >= quality_goal:
                return float(shares[i - 1])
            return float(
                shares[i - 1] + (quality_goal - q0) / (q1 - q0) * (shares[i] - shares[i - 1])
            )
    return None


def quality_at(share: float, shares: np.ndarray, quality: np.ndarray) -> float:
    return float(np.interp(share, shares, quality))


def evaluate(name: str, router: Router, items: list[Outcome], prices: PriceTable) -> dict[str, Any]:
    weak = np.array([o.weak for o in items])
    strong = np.array([o.strong for o in items])
    needed = np.array([o.label == 2 for o in items])
    tiers, scores = [], []
    for o in items:
        d = router.route(o.prompt)
        tiers.append(d.model)
        learned = d.signals.get("learned")
        scores.append(learned["score"] if learned else TIERS.index(d.model))
    score = np.array(scores, dtype=float)
    up = np.array([t != "haiku" for t in tiers])
    tokens = [estimate_tokens(o.prompt) for o in items]
    cost = {t: np.array([prices.cost(t, n, OUTPUT_TOKENS) for n in tokens]) for t in TIERS}
    routed = sum(float(cost[t][i]) for i, t in enumerate(tiers))
    all_sonnet = float(cost["sonnet"].sum())
    perfect = float(np.where(needed, cost["sonnet"], cost["haiku"]).sum())
    q_strong = float(strong.mean())
    shares, quality = curve(score, weak, strong)
    q_routed = float(np.where(up, strong, weak).mean())
    return {
        "router": name,
        "items": len(items),
        "auc": auc(score, needed),
        "strong_share": float(up.mean()),
        "opus_share": float(np.mean([t == "opus" for t in tiers])),
        "quality": q_routed,
        "quality_vs_all_strong": q_routed / q_strong,
        "share_for_95pct": share_for(QUALITY_TARGET * q_strong, shares, quality),
        "quality_vs_all_strong_at": {
            f"{s:.0%}": quality_at(s, shares, quality) / q_strong for s in CURVE_SHARES
        },
        "cost_vs_all_sonnet_pct": (routed / all_sonnet - 1) * 100,
        "cost_vs_label_perfect_ratio": routed / perfect,
    }


def reference(items: list[Outcome]) -> dict[str, Any]:
    """The data's own anchors: all-weak, all-strong, random and label-perfect routing."""
    weak = np.array([o.weak for o in items], dtype=float)
    strong = np.array([o.strong for o in items], dtype=float)
    goal = QUALITY_TARGET * strong.mean()
    gain = strong - weak
    oracle_gain = np.sort(gain)[::-1]
    oracle_q = (weak.sum() + np.r_[0, np.cumsum(oracle_gain)]) / len(items)
    oracle_share = int(np.argmax(oracle_q >= goal)) / len(items)
    return {
        "items": len(items),
        "weak_accuracy": float(weak.mean()),
        "strong_accuracy": float(strong.mean()),
        "only_strong_right": float((gain > 0).mean()),
        "only_weak_right": float((gain < 0).mean()),
        "random_share_for_95pct": float((goal - weak.mean()) / (strong.mean() - weak.mean())),
        "oracle_share_for_95pct": oracle_share,
    }


def run(routers: dict[str, Router], prices: PriceTable) -> dict[str, Any]:
    """Evaluate every router on the test split; print the table; return the JSON."""
    test = load()["test"]
    ref = reference(test)
    print(
        f"\nOutcome data, held-out test split ({ref['items']} prompts: MMLU + GSM8K, weak = "
        f"Mixtral-8x7B {ref['weak_accuracy']:.1%}, strong = GPT-4 {ref['strong_accuracy']:.1%}; "
        f"only-strong-right {ref['only_strong_right']:.1%}, only-weak-right "
        f"{ref['only_weak_right']:.1%})"
    )
    print(
        f"  strong share for {QUALITY_TARGET:.0%} of all-strong quality: random "
        f"{ref['random_share_for_95pct']:.1%}, label-perfect {ref['oracle_share_for_95pct']:.1%}"
        f"; target <= {TARGET_STRONG_SHARE:.0%}"
    )
    head = " ".join(f"{'q@' + f'{s:.0%}':>7}" for s in CURVE_SHARES)
    print(
        f"  {'router':<12} {'AUC':>6} {'strong':>7} {'opus':>6} {'quality':>8} {'%strong':>8} "
        f"{'share95':>8} {'vs sonnet':>10} {'vs perfect':>10}  {head}"
    )
    rows = []
    for name, router in routers.items():
        r = evaluate(name, router, test, prices)
        rows.append(r)
        s95 = "n/a" if r["share_for_95pct"] is None else f"{r['share_for_95pct']:.1%}"
        qs = " ".join(f"{v:>7.1%}" for v in r["quality_vs_all_strong_at"].values())
        print(
            f"  {name:<12} {r['auc']:>6.3f} {r['strong_share']:>7.1%} {r['opus_share']:>6.1%} "
            f"{r['quality']:>8.1%} {r['quality_vs_all_strong']:>8.1%} {s95:>8} "
            f"{r['cost_vs_all_sonnet_pct']:>+9.1f}% {r['cost_vs_label_perfect_ratio']:>9.2f}x  {qs}"
        )
    print(
        "  strong/opus: share of calls routed there; %strong: quality over all-strong quality; "
        "share95: strong share needed for 95 %; q@N: % of all-strong quality at N strong calls"
    )
    return {"reference": ref, "routers": rows, "output_tokens_per_item": OUTPUT_TOKENS}
