"""The learned router's model: sparse word features and a 3-class logistic regression in numpy.

Trained by ``bench/train_router.py`` on outcome-labelled public data (per-prompt correctness of a
weak and a strong model, see docs/ROUTING.md) and shipped as ``learned_router.npz``. For a prompt
it gives ``p_strong``, the probability that only the strong model answers it well, and
``p_weak``, the probability that only the weak one does; the routing score is their difference
(the expected quality gained by paying for the strong tier).

Features: lowercased word unigrams and bigrams found in the training vocabulary, plus a few
shape tokens (length bucket of the whole prompt, digits, code fences, lines), all binary and
scaled by 1/sqrt(count). Word features come from at most :data:`MAX_CHARS` characters (about
1.5k tokens): a longer prompt contributes its first :data:`HEAD_CHARS` and last :data:`TAIL_CHARS`
characters, where the instruction or question almost always is; so a decision costs about the
same for an 8k-token prompt as for a 1 MB one.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "HEAD_CHARS",
    "MAX_CHARS",
    "MODEL_FILE",
    "TAIL_CHARS",
    "LearnedModel",
    "Prediction",
    "feature_tokens",
    "packaged_model",
    "truncate",
]

MODEL_FILE = "learned_router.npz"
MAX_CHARS = 6_000  # ~1.5k tokens at the estimator's 4 characters per token
HEAD_CHARS = 4_500
TAIL_CHARS = 1_500

_WORD = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)


def truncate(text: str) -> str:
    """The documented cut for long prompts: the first 4,500 and last 1,500 characters."""
    if len(text) <= MAX_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def _bucket(value: int, edges: tuple[int, ...]) -> int:
    return sum(value >= e for e in edges)


def feature_tokens(text: str) -> set[str]:
    """The feature names present in ``text`` (before the vocabulary filter)."""
    size = len(text)
    text = truncate(text)
    words = _WORD.findall(text.lower())
    feats = set(words)
    feats.update(map(" ".join, itertools.pairwise(words)))
    digits = sum(map(text.count, "0123456789"))  # ASCII digits; str.count beats a regex
    feats.add("__bias")
    feats.add(f"__chars{_bucket(size, (32, 64, 128, 256, 512, 1024, 2048, 4096, 16384))}")
    feats.add(f"__digits{_bucket(digits, (1, 3, 6, 12, 25, 50))}")
    feats.add(f"__lines{_bucket(text.count(chr(10)), (1, 3, 6, 12, 25, 50, 100))}")
    if "```" in text:
        feats.add("__fence")
    return feats


@dataclass(frozen=True, slots=True)
class Prediction:
    """One prompt's model output."""

    p_strong: float  # only the strong model answers well
    p_weak: float  # only the weak model answers well
    score: float  # p_strong - p_weak: the expected quality gain of the strong tier
    top_features: tuple[tuple[str, float], ...]  # the present features pushing the score most


class LearnedModel:
    """Weights and operating points loaded from an ``.npz`` written by the training script."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        # the vocabulary is stored as one UTF-8 blob, one feature per line (compact in an .npz)
        vocab = bytes(np.asarray(arrays["vocab"], dtype=np.uint8)).decode("utf-8").split("\n")
        self.vocab: dict[str, int] = {w: i for i, w in enumerate(vocab)}
        self.names = vocab
        self._known = frozenset(vocab)
        self.weights: npt.NDArray[np.float32] = np.asarray(arrays["weights"], dtype=np.float32)
        # score thresholds measured on the validation split: thresholds[k] routes ~k % strong
        self.thresholds: npt.NDArray[np.float64] = np.asarray(arrays["thresholds"], np.float64)
        self.meta: dict[str, str] = {
            str(k): str(v) for k, v in zip(arrays["meta_keys"], arrays["meta_values"], strict=True)
        }
        # the score each feature adds on its own (class 2 minus class 0 weight)
        self._gain = self.weights[:, 2] - self.weights[:, 0]

    @classmethod
    def load(cls, path: str) -> LearnedModel:
        """Read a model file written by ``bench/train_router.py``."""
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})

    def threshold(self, strong_share: float) -> float:
        """The score above which about ``strong_share`` of (validation) traffic goes strong."""
        if strong_share <= 0:
            return math.inf
        if strong_share >= 1:
            return -math.inf
        idx = min(round(strong_share * 100), len(self.thresholds) - 1)
        return float(self.thresholds[idx])

    def indices(self, text: str) -> list[int]:
        """The vocabulary indices of ``text``'s features."""
        vocab = self.vocab
        # set & set walks the smaller side in C; most features of a long prompt are unknown
        return [vocab[f] for f in feature_tokens(text) & self._known]

    def predict(self, text: str, *, explain: int = 0) -> Prediction:
        """Probabilities and score of ``text``; ``explain``: how many top features to name."""
        idx = self.indices(text)
        scale = 1.0 / math.sqrt(len(idx)) if idx else 0.0
        logits = self.weights[idx].sum(axis=0, dtype=np.float64) * scale
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top: tuple[tuple[str, float], ...] = ()
        if explain and idx:
            contrib = self._gain[idx] * scale
            strength = -np.abs(contrib)
            k = min(explain, len(idx) - 1)
            top_k = np.argpartition(strength, k)[: k + 1] if k > 0 else np.arange(len(idx))
            order = top_k[np.argsort(strength[top_k])][:explain]
            top = tuple(
                (self.names[idx[j]], round(float(contrib[j]), 4))
                for j in order
                if not self.names[idx[j]].startswith("__bias")
            )
        p_strong, p_weak = float(probs[2]), float(probs[0])
        return Prediction(p_strong, p_weak, p_strong - p_weak, top)

    def score_many(self, texts: list[str]) -> npt.NDArray[np.float64]:
        """Scores of many prompts (the evaluation's helper)."""
        return np.array([self.predict(t).score for t in texts], dtype=np.float64)


@functools.lru_cache(maxsize=1)
def packaged_model() -> LearnedModel:
    """The model shipped in the package (loaded once per process)."""
    ref = resources.files("claude_code_api.routing").joinpath(MODEL_FILE)
    with resources.as_file(ref) as path:
        return LearnedModel.load(str(path))
