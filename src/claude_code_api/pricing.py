"""Model names and prices: one table shared by the token tracker, the router and budgets.

Prices are USD per 1,000 tokens. The defaults are the seed's single per-model rate (used for
input and output alike); operators override them with ``CCAPI_PRICING`` (JSON), e.g.
``{"sonnet": {"input": 0.003, "output": 0.015}}``. Costs reported by the CLI
(``total_cost_usd``) always win over this table; it is used when the CLI reports none and for
estimates made before a call.

Anthropic's prompt cache bills a write at 1.25x the input price and a read at 0.1x
(5-minute entries); :meth:`PriceTable.usage_cost` and :func:`billed_tokens` (what a token
budget is charged) apply those multipliers to the counts the CLI reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from claude_code_api.domain import Usage
from claude_code_api.validation import parse_model

#: Tiers, cheapest first.
TIERS: tuple[str, ...] = ("haiku", "sonnet", "opus")


#: Context window per tier, in tokens.
CONTEXT_WINDOWS: dict[str, int] = {"haiku": 200_000, "sonnet": 200_000, "opus": 200_000}


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per 1K tokens for one model."""

    input: float
    output: float


DEFAULT_RATES: dict[str, Rate] = {
    "haiku": Rate(0.00025, 0.00025),
    "sonnet": Rate(0.003, 0.003),
    "opus": Rate(0.015, 0.015),
}


#: Prompt-cache prices as multiples of the input price (Anthropic's 5-minute cache).
CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1


def billed_tokens(usage: Usage) -> int:
    """Input-price token equivalents of a call: what a token budget is charged.

    ``input + output + 1.25 x cache writes + 0.1 x cache reads`` (each cache part rounded up),
    so a conversation whose history is read from the prompt cache spends a tenth of it.

    >>> billed_tokens(Usage(input_tokens=10, output_tokens=5, cache_creation_input_tokens=100,
    ...                     cache_read_input_tokens=1000))
    240
    """
    writes = -(-usage.cache_creation_input_tokens * 5 // 4)  # exact 1.25x, rounded up
    reads = -(-usage.cache_read_input_tokens // 10)  # exact 0.1x, rounded up
    return usage.input_tokens + usage.output_tokens + writes + reads


def tier_of(model: str) -> str:
    """Map an alias or a full model id (``claude-3-5-haiku-20241022``) to its tier.

    Unknown names map to ``"sonnet"``, the middle tier, so estimates stay conservative.

    >>> tier_of("claude-opus-4-1-20250805")
    'opus'
    """
    name = model.lower()
    for tier in TIERS:
        if tier in name:
            return tier
    return "sonnet"


def tier_for_model(model: str) -> str | None:
    """The tier a requested model name runs on (``None`` for ``auto``).

    The grammar is :func:`claude_code_api.validation.parse_model`: the tier is read from the
    id's structure (never by looking for a tier name anywhere in it); a malformed name is a
    400, a well-formed name that is not a Claude model a 404 ``model_not_found``.
    """
    return parse_model(model).tier


def resolve_model(model: str, pins: Mapping[str, str] | None = None) -> str:
    """The ``claude --model`` value for a requested model.

    A tier alias stays an alias, so the CLI resolves it to its own current model of that tier
    (the same model ``claude --model sonnet`` uses), unless ``pins`` (``CCAPI_MODEL_IDS``) pins
    the tier to a full id. Full ids pass through unchanged. Responses report the model that
    actually answered, from the CLI's output.

    >>> resolve_model("Opus"), resolve_model("opus", {"opus": "claude-opus-4-1"})
    ('opus', 'claude-opus-4-1')
    """
    alias = model.strip().lower()
    if alias in TIERS:
        return (pins or {}).get(alias, alias)
    return model


class PriceTable:
    """Per-model rates with optional overrides; immutable once built."""

    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None) -> None:
        rates = dict(DEFAULT_RATES)
        for model, spec in (overrides or {}).items():
            base = rates.get(tier_of(model), DEFAULT_RATES["sonnet"])
            single = spec.get("rate")
            rates[tier_of(model)] = Rate(
                input=float(spec.get("input", single if single is not None else base.input)),
                output=float(spec.get("output", single if single is not None else base.output)),
            )
        self._rates = rates

    def rate(self, model: str) -> Rate:
        """The rate for a model alias or full id."""
        return self._rates[tier_of(model)]

    def cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float:
        """USD cost of a call from token counts (``input_tokens``: the uncached input)."""
        rate = self.rate(model)
        cached = (
            cache_write_tokens * CACHE_WRITE_MULTIPLIER + cache_read_tokens * CACHE_READ_MULTIPLIER
        )
        return ((input_tokens + cached) * rate.input + output_tokens * rate.output) / 1000.0

    def usage_cost(self, model: str, usage: Usage) -> float:
        """USD cost of a call's :class:`Usage`, cache writes and reads at their rates."""
        return self.cost(
            model,
            usage.input_tokens,
            usage.output_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
        )
