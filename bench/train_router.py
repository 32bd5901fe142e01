"""Train the learned default router (one script, fixed seed, fixed held-out split).

    .venv/bin/python bench/train_router.py build ROUTELLM_CHECKOUT   # rebuild the outcome data
    .venv/bin/python bench/train_router.py train                     # retrain the shipped model

``build`` reads the per-question correctness files of lm-sys/RouteLLM (``routellm/evals/mmlu/
responses/*.csv`` and ``routellm/evals/gsm8k/gsm8k_responses.csv``; weak = Mixtral-8x7B-Instruct,
strong = GPT-4-1106-preview) and writes ``bench/data/outcomes/routellm_mmlu_gsm8k.jsonl.gz``.
RouteLLM's MT-Bench files are never read: MT-Bench and Chatbot Arena-derived sets are kept for
independent evaluation.

``train`` fits a 3-class logistic regression (only-weak-right / tie / only-strong-right) on the
train split's word features (``claude_code_api.routing.learned``), picks the L2 strength by
validation AUC, stores the validation split's score quantiles as operating points and writes
``src/claude_code_api/routing/learned_router.npz``. The split is a hash of the prompt
(``bench/_outcomes.py``); the test split is not read here at all.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _outcomes import OUTCOMES, Outcome, load
from claude_code_api.routing.learned import MODEL_FILE, feature_tokens

SEED = 20261201
MIN_DF = 3
MAX_VOCAB = 40_000
L2 = 3e-4  # the best validation AUC of L2_GRID (``train --search`` repeats the search)
L2_GRID = (3e-5, 1e-4, 3e-4, 1e-3)
EPOCHS = 400
LR = 0.05
MODEL_PATH = Path(__file__).parents[1] / "src" / "claude_code_api" / "routing" / MODEL_FILE
WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"


def build(checkout: Path) -> None:
    csv.field_size_limit(1 << 24)
    rows: list[dict[str, object]] = []
    files = sorted((checkout / "routellm/evals/mmlu/responses").glob("mmlu_*.csv"))
    files.append(checkout / "routellm/evals/gsm8k/gsm8k_responses.csv")
    for path in files:
        source = "gsm8k" if "gsm8k" in path.name else "mmlu/" + path.stem.removeprefix("mmlu_")
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                rows.append(
                    {
                        "source": source,
                        "prompt": rec["prompt"],
                        "weak": rec[WEAK] == "True",
                        "strong": rec[STRONG] == "True",
                    }
                )
    OUTCOMES.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 and sorted input: the same checkout gives a byte-identical file
    with OUTCOMES.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"wrote {len(rows)} records to {OUTCOMES}")


class Sparse:
    """Rows of feature indices with 1/sqrt(n) values (a tiny CSR without scipy)."""

    def __init__(self, rows: list[list[int]]) -> None:
        self.n = len(rows)
        self.indptr = np.cumsum([0] + [len(r) for r in rows])
        self.indices = np.fromiter((i for r in rows for i in r), dtype=np.int64)
        lengths = np.diff(self.indptr)
        self.row = np.repeat(np.arange(self.n), lengths)
        self.values = (1.0 / np.sqrt(np.maximum(lengths, 1)))[self.row]

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.add.reduceat(w[self.indices] * self.values[:, None], self.indptr[:-1], axis=0)

    def tdot(self, d: np.ndarray, n_features: int) -> np.ndarray:
        vals = self.values[:, None] * d[self.row]
        cols = [np.bincount(self.indices, vals[:, c], minlength=n_features) for c in range(3)]
        return np.stack(cols, axis=1)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by ranks (ties get their average rank)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = positive.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit(x: Sparse, y: np.ndarray, n_features: int, l2: float) -> np.ndarray:
    """Full-batch Adam on the mean cross-entropy + l2 * ||W||^2 (deterministic)."""
    rng = np.random.default_rng(SEED)
    w = rng.normal(0, 1e-3, (n_features, 3))
    m, v = np.zeros_like(w), np.zeros_like(w)
    onehot = np.eye(3)[y]
    for t in range(1, EPOCHS + 1):
        logits = x.dot(w)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = x.tdot(p - onehot, n_features) / x.n + 2 * l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= LR * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def scores_of(x: Sparse, w: np.ndarray) -> np.ndarray:
    logits = x.dot(w)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p[:, 2] - p[:, 0]


def train(grid: tuple[float, ...] = (L2,)) -> None:
    data = load()
    tr, va = data["train"], data["validation"]
    df: Counter[str] = Counter()
    tr_feats = [feature_tokens(o.prompt) for o in tr]
    for feats in tr_feats:
        df.update(feats)
    kept = sorted(
        (f for f, n in df.items() if n >= MIN_DF or f.startswith("__")),
        key=lambda f: (-df[f], f),
    )[:MAX_VOCAB]
    kept.sort()
    index = {f: i for i, f in enumerate(kept)}

    def matrix(feats_list: list[set[str]]) -> Sparse:
        return Sparse([sorted(index[f] for f in fs if f in index) for fs in feats_list])

    def labels(items: list[Outcome]) -> np.ndarray:
        return np.array([o.label for o in items])

    x_tr, y_tr = matrix(tr_feats), labels(tr)
    x_va, y_va = matrix([feature_tokens(o.prompt) for o in va]), labels(va)
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in grid:
        w = fit(x_tr, y_tr, len(kept), l2)
        a = auc(scores_of(x_va, w), y_va == 2)
        print(f"l2={l2:g}: validation AUC {a:.4f}")
        if best is None or a > best[0]:
            best = (a, l2, w)
    assert best is not None
    val_auc, l2, w = best
    s_va = scores_of(x_va, w)
    # thresholds[k]: the score above which k % of the validation prompts fall
    thresholds = np.quantile(s_va, 1 - np.arange(101) / 100)
    blob = "\n".join(kept).encode("utf-8")
    meta = {
        "data": OUTCOMES.name,
        "data_sha256": hashlib.sha256(OUTCOMES.read_bytes()).hexdigest(),
        "train_items": str(len(tr)),
        "validation_items": str(len(va)),
        "l2": str(l2),
        "validation_auc": f"{val_auc:.4f}",
        "seed": str(SEED),
        "weak_model": WEAK,
        "strong_model": STRONG,
    }
    np.savez_compressed(
        MODEL_PATH,
        vocab=np.frombuffer(blob, dtype=np.uint8),
        weights=w.astype(np.float32),
        thresholds=thresholds,
        meta_keys=np.array(list(meta)),
        meta_values=np.array(list(meta.values())),
    )
    size = MODEL_PATH.stat().st_size
    print(f"wrote {MODEL_PATH} ({len(kept)} features, {size / 1e6:.2f} MB), l2={l2:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="rebuild the outcome data from a RouteLLM checkout")
    b.add_argument("checkout", type=Path)
    t = sub.add_parser("train", help="train and write the packaged model")
    t.add_argument("--search", action="store_true", help="pick l2 from L2_GRID by validation AUC")
    args = parser.parse_args()
    if args.cmd == "build":
        build(args.checkout)
    else:
        train(L2_GRID if args.search else (L2,))


if __name__ == "__main__":
    main()
