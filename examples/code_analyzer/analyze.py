"""Review source files with Claude: one batch request, a model chosen per file by the router.

    export CCAPI_BASE_URL=http://localhost:8080 CCAPI_API_KEY=<your key>
    python examples/code_analyzer/analyze.py src/ --max-files 10

Small files go to the cheapest model that the service's router recommends; the summary shows
what each review cost. Exit status 1 if any review failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from claude_code_api import ClaudeClient

PROMPT = """Review this {language} file for bugs, security problems and unclear code.
Answer with at most five bullet points, most important first.

File: {path}
```{language}
{source}
```"""

LANGUAGES = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go", ".rs": "rust"}


def collect(paths: list[Path], max_files: int, max_bytes: int) -> list[Path]:
    """Source files under ``paths`` with a known language, smallest first, at most ``max_files``."""
    files: list[Path] = []
    for path in paths:
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates if p.suffix in LANGUAGES and p.stat().st_size <= max_bytes]
    return sorted(files, key=lambda p: p.stat().st_size)[:max_files]


def main(argv: list[str] | None = None) -> int:
    """Route, review in one batch, print findings and the cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max-files", type=int, default=10)
    parser.add_argument("--max-bytes", type=int, default=60_000, help="skip larger files")
    args = parser.parse_args(argv)

    files = collect(args.paths, args.max_files, args.max_bytes)
    if not files:
        print("no source files found", file=sys.stderr)
        return 1
    with ClaudeClient() as client:
        items = []
        for path in files:
            source = path.read_text(errors="replace")
            decision = client.route(f"Review {path.name} for bugs", context_size=len(source) // 4)
            language = LANGUAGES[path.suffix]
            prompt = PROMPT.format(language=language, path=path, source=source)
            items.append({"prompt": prompt, "model": decision.recommended_model})
        results = client.batch(items, parallel=True, max_tokens=600)

    for path, item, result in zip(files, items, results, strict=True):
        print(f"\n=== {path} ({item['model']}) ===")
        if result.completion is not None:
            print(result.completion.content)
        else:
            print(f"review failed: {result.error.message if result.error else 'unknown error'}")
    print(
        f"\n{results.succeeded} reviewed, {results.failed} failed, "
        f"{results.total_tokens} tokens, ${results.total_cost:.6f}"
    )
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
