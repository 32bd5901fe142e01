"""Outcome-labelled data for the learned router: loading and the fixed train/validation/test split.

Each record is one prompt with the correctness of a weak and a strong model on it
(``bench/data/outcomes/``, built by ``bench/train_router.py build`` from public files; sources and
licences in ``bench/data/outcomes/README.md``). The split is a pure function of the prompt text
(SHA-256), so it never changes between runs, machines or data rebuilds:
buckets 0-6 train, 7 validation (regularisation and operating points), 8-9 test (reported only).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = Path(__file__).parent / "data" / "outcomes" / "routellm_mmlu_gsm8k.jsonl.gz"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str  # "mmlu/<subject>" or "gsm8k"
    prompt: str
    weak: bool  # the weak model's answer was correct
    strong: bool  # the strong model's answer was correct

    @property
    def label(self) -> int:
        """0: only the weak model is right, 1: both or neither, 2: only the strong one is."""
        return 1 + int(self.strong) - int(self.weak)


def split_of(prompt: str) -> str:
    bucket = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big") % 10
    return "train" if bucket < 7 else "validation" if bucket == 7 else "test"


def load(path: Path = OUTCOMES) -> dict[str, list[Outcome]]:
    """The records by split (duplicated prompts kept once, first occurrence wins)."""
    out: dict[str, list[Outcome]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["prompt"] in seen:
                continue
            seen.add(rec["prompt"])
            o = Outcome(rec["source"], rec["prompt"], bool(rec["weak"]), bool(rec["strong"]))
            out[split_of(o.prompt)].append(o)
    return out
