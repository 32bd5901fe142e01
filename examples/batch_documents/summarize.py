"""Summarise a folder of documents through ``/v1/batch``; write the results as JSONL and CSV.

    export CCAPI_BASE_URL=http://localhost:8080 CCAPI_API_KEY=<your key>
    python examples/batch_documents/summarize.py docs/ --out summaries

Documents are sent in batches of ``--batch-size`` (the service runs each batch's items in
parallel on its worker pool; a batch holds at most ``CCAPI_BATCH_MAX_ITEMS``, 50 by default).
A progress bar on stderr advances as each batch returns. Every document succeeds or fails on its
own: ``summaries.jsonl`` and ``summaries.csv`` get one row per document, with its model, tokens,
cost, whether the answer came from the cache, and the error if it failed. Exit status 1 if any
document failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from claude_code_api import ClaudeClient

PROMPT = """Summarise the document below in at most three sentences, then list up to five
keywords on a last line starting with "Keywords:".

Document: {name}
<document>
{text}
</document>"""

FIELDS = ["file", "ok", "model", "summary", "tokens", "cost_usd", "cached", "error"]


def collect(folder: Path, suffixes: set[str], max_files: int) -> list[Path]:
    """The folder's documents (recursively) with a wanted suffix, in name order."""
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in suffixes]
    return found[:max_files]


def chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Progress:
    """A one-line text progress bar (no dependency; redrawn in place on a terminal)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.done = 0
        self.started = time.monotonic()

    def advance(self, count: int, failed: int) -> None:
        """Count ``count`` more documents (``failed`` of them failed) and redraw."""
        self.done += count
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        line = f"[{bar}] {self.done}/{self.total} documents, {failed} failed, {elapsed:.1f}s"
        end = "\r" if self.out.isatty() and self.done < self.total else "\n"
        self.out.write(line + end)
        self.out.flush()


def summarise(
    client: ClaudeClient, files: list[Path], *, model: str, batch_size: int, max_chars: int
) -> Iterator[dict[str, Any]]:
    """One result row per document, batch by batch, advancing a progress bar."""
    progress = Progress(len(files))
    failed = 0
    for batch in chunks(files, batch_size):
        prompts = [
            PROMPT.format(name=path.name, text=path.read_text(errors="replace")[:max_chars])
            for path in batch
        ]
        results = client.batch(prompts, model=model, parallel=True, max_tokens=400)
        rows = [row(path, item) for path, item in zip(batch, results, strict=True)]
        failed += sum(not r["ok"] for r in rows)
        progress.advance(len(batch), failed)
        yield from rows


def row(path: Path, item: Any) -> dict[str, Any]:
    """The JSONL/CSV row of one batch item."""
    done = item.completion
    return {
        "file": str(path),
        "ok": item.ok,
        "model": done.model if done else None,
        "summary": done.content if done else None,
        "tokens": done.usage.total_tokens if done else 0,
        "cost_usd": done.usage.cost_usd if done else 0.0,
        "cached": done.cached if done else False,
        "error": item.error.message if item.error else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Summarise, write ``<out>.jsonl`` and ``<out>.csv``, print the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("summaries"), help="path stem")
    parser.add_argument("--model", default="haiku", help="auto, haiku, sonnet or opus")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--max-files", type=int, default=500)
    parser.add_argument("--max-chars", type=int, default=40_000, help="per document")
    parser.add_argument("--suffixes", default=".txt,.md,.rst", help="comma-separated")
    args = parser.parse_args(argv)

    suffixes = {s.strip().lower() for s in args.suffixes.split(",") if s.strip()}
    files = collect(args.folder, suffixes, args.max_files)
    if not files:
        print(f"no documents ({', '.join(sorted(suffixes))}) under {args.folder}", file=sys.stderr)
        return 1
    jsonl, csv_path = args.out.with_suffix(".jsonl"), args.out.with_suffix(".csv")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with ClaudeClient() as client, jsonl.open("w", encoding="utf-8") as lines:
        for result in summarise(
            client, files, model=args.model, batch_size=args.batch_size, max_chars=args.max_chars
        ):
            lines.write(json.dumps(result, ensure_ascii=False) + "\n")
            rows.append(result)
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    failed = sum(not r["ok"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    cost = sum(r["cost_usd"] for r in rows)
    print(f"{len(rows) - failed} summarised, {failed} failed, {tokens} tokens, ${cost:.6f}")
    print(f"wrote {jsonl} and {csv_path}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
