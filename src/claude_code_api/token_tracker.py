"""Token tracking, parse and price: the CLI's json / stream-json output → tokens and cost.

Cost is the CLI's own ``total_cost_usd`` when it reports one (it knows the real per-model
rates and cache discounts); otherwise :class:`~claude_code_api.pricing.PriceTable` prices the
tokens. Storing, aggregating and exporting usage live in :mod:`claude_code_api.storage`.

    >>> calculate_cost("haiku", 1000, 1000)
    0.0005
"""

from __future__ import annotations

import json
from typing import Any

from claude_code_api.domain import CompletionResult
from claude_code_api.errors import CLIOutputError
from claude_code_api.pricing import PriceTable
from claude_code_api.workers.protocol import StreamParser

__all__ = ["calculate_cost", "parse_claude_output"]


def parse_claude_output(
    output: str | bytes | dict[str, Any], *, model: str = "", prices: PriceTable | None = None
) -> CompletionResult:
    """Parse ``--output-format json`` (a dict or its text) or a whole ``stream-json`` output.

    ``model`` is used only when the output names none (no ``modelUsage``).

    Raises:
        CLIOutputError: not a CLI output, or no final ``result`` event.
        CLIResultError: (or a subclass) the result is an ``is_error`` result.
    """
    parser = StreamParser(model=model or "unknown", prices=prices)
    if isinstance(output, dict):
        parser.feed(json.dumps(output))
        return parser.finish()
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    stripped = text.strip()
    if stripped.startswith("["):  # `--output-format json --verbose`: an array of all events
        try:
            events = json.loads(stripped)
        except ValueError:
            raise CLIOutputError("The CLI's output is not valid JSON.") from None
        for event in events if isinstance(events, list) else []:
            parser.feed(json.dumps(event))
        return parser.finish()
    if stripped.startswith("{") and "\n" not in stripped:
        try:
            single = json.loads(stripped)
        except ValueError:
            raise CLIOutputError("The CLI's output is not valid JSON.") from None
        if not isinstance(single, dict):
            raise CLIOutputError("The CLI's output is not a JSON object.")
    for line in text.splitlines():
        parser.feed(line)
    return parser.finish()


def calculate_cost(
    model: str, input_tokens: int, output_tokens: int, *, prices: PriceTable | None = None
) -> float:
    """USD cost of ``input_tokens`` + ``output_tokens`` on ``model`` (alias or full id)."""
    return (prices or PriceTable()).cost(model, input_tokens, output_tokens)
