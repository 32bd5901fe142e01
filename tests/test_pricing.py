"""Prompt-cache prices: writes at 1.25x the input price, reads at 0.1x."""

from __future__ import annotations

import pytest

from claude_code_api.domain import Usage
from claude_code_api.pricing import PriceTable, billed_tokens


def test_usage_cost_prices_cache_writes_and_reads() -> None:
    prices = PriceTable({"sonnet": {"input": 3.0, "output": 15.0}})
    usage = Usage(
        input_tokens=100,
        output_tokens=10,
        cache_creation_input_tokens=1000,
        cache_read_input_tokens=10_000,
    )
    expected = (100 * 3.0 + 1000 * 3.0 * 1.25 + 10_000 * 3.0 * 0.1 + 10 * 15.0) / 1000
    assert prices.usage_cost("claude-sonnet-5", usage) == pytest.approx(expected)
    # Reading a prefix costs a tenth of sending it as plain input.
    plain = prices.cost("sonnet", 10_000, 0)
    assert prices.cost("sonnet", 0, 0, cache_read_tokens=10_000) == pytest.approx(plain / 10)


def test_billed_tokens_charge_input_price_equivalents() -> None:
    assert billed_tokens(Usage(input_tokens=7, output_tokens=3)) == 10
    usage = Usage(cache_creation_input_tokens=1000, cache_read_input_tokens=10_000)
    assert billed_tokens(usage) == 1250 + 1000
    # Fractions are rounded up, never down to a free call.
    assert billed_tokens(Usage(cache_creation_input_tokens=1, cache_read_input_tokens=1)) == 3
