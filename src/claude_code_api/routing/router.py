"""The model auto-router: picks the cheapest adequate tier and explains why.

Two kinds of router share the hard constraints: the **learned** one (the default,
:mod:`claude_code_api.routing.learned`: a model trained on which prompts a weak model fails and a
strong one answers) and **rule sets** (``seed``, ``cost_aware`` or a file; the rules themselves are
data, see ``default_rules.toml``). Order of evaluation:

1. **Low budget** (hard constraint): ``budget_remaining < low_budget_tokens`` → the low-budget
   tier (haiku). Nothing overrides it.
2. **Learned**: sonnet when the model's expected quality gain of the strong tier is above the
   operating point's threshold (``strong_share``), else haiku. Opus is never picked here: the
   training data has no opus-vs-sonnet outcomes, so nothing says where opus pays.
   **Rules** instead: in order; the first rule whose conditions all hold picks the tier, and the
   default tier (sonnet) when no rule matched.
4. **Budget fit**: when the chosen tier's estimated tokens (prompt + context + expected output)
   exceed ``budget_remaining`` and a cheaper tier fits, the most capable cheaper tier that fits
   is used; when none fits, the cheapest tier is used (the budget check will likely refuse it).

>>> Router(default_rules()).route("hi").model
'haiku'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claude_code_api.errors import InvalidRequestError
from claude_code_api.pricing import TIERS, PriceTable
from claude_code_api.routing.learned import LearnedModel, packaged_model
from claude_code_api.routing.rules import Rule, RuleSet, default_rules, load_rules
from claude_code_api.routing.signals import (
    KeywordMatcher,
    PromptView,
    Structure,
    instruction_of,
    structure_of,
)
from claude_code_api.routing.tokens import estimate_tokens

if TYPE_CHECKING:
    from claude_code_api.config import Settings

__all__ = ["DEFAULT_STRONG_SHARE", "LEARNED", "RouteDecision", "Router", "auto_select_model"]

#: ``CCAPI_ROUTER_RULES`` value (and the unset default) that selects the learned router.
LEARNED = "learned"
#: The learned router's default operating point: the share of traffic sent to the strong tier.
DEFAULT_STRONG_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The router's answer: a tier alias, why, what it saw, and what each tier would cost."""

    model: str
    reasoning: str
    rule: str
    signals: dict[str, Any] = field(default_factory=dict)
    estimated_cost: dict[str, float] = field(default_factory=dict)
    #: Learned router only: the model's probability that only the strong tier answers well
    #: (``None`` for rule sets, which have no probabilities).
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``/v1/route`` and the ``routing`` field of auto completions)."""
        return {
            "model": self.model,
            "reasoning": self.reasoning,
            "rule": self.rule,
            "probability": self.probability,
            "signals": dict(self.signals),
            "estimated_cost": dict(self.estimated_cost),
        }


@dataclass(frozen=True, slots=True)
class _Facts:
    prompt_tokens: int
    total_tokens: int
    structure: Structure
    matches: dict[str, list[str]]
    instruction_matches: dict[str, list[str]]

    def scoped(self, rule: Rule) -> dict[str, list[str]]:
        return self.instruction_matches if rule.scope == "instruction" else self.matches


class Router:
    """Routes prompts to tiers and prices them from a :class:`PriceTable`.

    ``Router()`` is the learned router (the packaged model, the seed profile's budget settings);
    ``Router(rules)`` routes by a :class:`RuleSet`; ``Router(rules, model=m)`` is the learned
    model ``m`` with ``rules``' budget settings. ``strong_share`` is the learned router's
    operating point: about that share of (validation) prompts goes to the strong tier.
    """

    def __init__(
        self,
        rules: RuleSet | None = None,
        prices: PriceTable | None = None,
        *,
        model: LearnedModel | None = None,
        strong_share: float = DEFAULT_STRONG_SHARE,
    ) -> None:
        if not 0 <= strong_share <= 1:
            raise ValueError("strong_share must be between 0 and 1")
        self.model = model if model is not None or rules is not None else packaged_model()
        self.rules = rules if rules is not None else default_rules()
        self.prices = prices if prices is not None else PriceTable()
        self.strong_share = strong_share
        self._threshold = self.model.threshold(strong_share) if self.model else 0.0
        self._matcher = KeywordMatcher(self.rules.keywords)

    @property
    def profile(self) -> str:
        """``"learned"`` or the rule set's name/file."""
        return LEARNED if self.model is not None else self.rules.source

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        """Build from ``CCAPI_ROUTER_RULES`` (unset or ``learned``: the learned router),
        ``CCAPI_ROUTER_STRONG_SHARE`` and ``CCAPI_PRICING``; a bad rules file raises
        :class:`~claude_code_api.routing.rules.RulesFileError` here, i.e. at startup."""
        prices = PriceTable(settings.pricing)
        if settings.router_rules in (None, LEARNED):
            return cls(prices=prices, strong_share=settings.router_strong_share)
        return cls(load_rules(settings.router_rules), prices)

    def route(
        self,
        prompt: str,
        *,
        context_size: int = 0,
        budget_remaining: int | None = None,
        max_tokens: int | None = None,
        max_tier: str | None = None,
    ) -> RouteDecision:
        """Pick a tier for ``prompt`` plus ``context_size`` extra context tokens.

        ``budget_remaining`` is the project's remaining budget in tokens (``None``: unlimited);
        ``max_tokens`` is the request's output cap (``None``: the rules' expected output);
        ``max_tier`` caps the answer (an API key's limit), applied last.
        """
        if max_tier is not None and max_tier not in TIERS:
            raise InvalidRequestError(f"max_tier must be one of {', '.join(TIERS)}")
        if context_size < 0:
            raise InvalidRequestError("context_size must be >= 0", param="context_size")
        if max_tokens is not None and max_tokens < 1:
            raise InvalidRequestError("max_tokens must be >= 1", param="max_tokens")
        facts = self._facts(prompt, context_size, keywords=self.model is None)
        rs = self.rules
        probability: float | None = None
        learned: dict[str, Any] | None = None
        if budget_remaining is not None and budget_remaining < rs.low_budget_tokens:
            tier, rule = rs.low_budget_tier, "low_budget"
            why = (
                f"only {budget_remaining} budget tokens remain (under {rs.low_budget_tokens}): "
                f"{tier} only"
            )
        elif self.model is not None:
            tier, rule, why, probability, learned = self._learned(prompt)
        else:
            matched = self._first_match(facts)
            if matched is None:
                tier, rule = rs.default_tier, "default"
                why = "no rule matched: default tier"
            else:
                tier, rule = matched.tier, matched.name
                why = f"rule {matched.name!r}: {matched.description or 'conditions met'}"
                why += self._evidence(matched, facts)
        need = {t: facts.total_tokens + self._output(t, max_tokens) for t in TIERS}
        downgraded_from = None
        if budget_remaining is not None and rs.downgrade_to_fit and need[tier] > budget_remaining:
            fitted = self._fit(tier, need, budget_remaining)
            if fitted != tier:
                downgraded_from, tier = tier, fitted
                fits = need[tier] <= budget_remaining
                why += (
                    f"; downgraded from {downgraded_from}: ~{need[downgraded_from]} tokens "
                    f"exceed the {budget_remaining} remaining"
                    + (
                        f", {tier} fits (~{need[tier]})"
                        if fits
                        else f", no tier fits so the cheapest ({tier}) is used"
                    )
                )
        capped_from = None
        if max_tier is not None and TIERS.index(tier) > TIERS.index(max_tier):
            capped_from, tier = tier, max_tier
            why += f"; capped at {tier} by the API key (the router chose {capped_from})"
        costs = {
            t: round(self.prices.cost(t, facts.total_tokens, self._output(t, max_tokens)), 8)
            for t in TIERS
        }
        others = ", ".join(f"~${costs[t]:.6f} on {t}" for t in TIERS if t != tier)
        reasoning = (
            f"{tier}: {why}. Estimated {facts.prompt_tokens} prompt tokens"
            + (f" + {context_size} context tokens" if context_size else "")
            + f"; ~${costs[tier]:.6f} on {tier} ({others})."
        )
        signals = self._signals(facts, context_size, rule, budget_remaining, downgraded_from)
        signals["capped_from"] = capped_from
        signals["router"] = self.profile
        if learned is not None:
            signals["learned"] = learned
        return RouteDecision(
            model=tier,
            reasoning=reasoning,
            rule=rule,
            signals=signals,
            estimated_cost=costs,
            probability=probability,
        )

    # --- internals ---------------------------------------------------------------------------

    def _learned(self, prompt: str) -> tuple[str, str, str, float, dict[str, Any]]:
        assert self.model is not None
        pred = self.model.predict(prompt, explain=6)
        strong = pred.score > self._threshold
        tier = "sonnet" if strong else "haiku"
        why = (
            f"learned router: P(only the strong tier answers well) {pred.p_strong:.2f}, "
            f"P(only haiku does) {pred.p_weak:.2f}; expected gain {pred.score:+.3f} "
            f"{'>' if strong else '<='} {self._threshold:+.3f}, the threshold that sends "
            f"{self.strong_share:.0%} of traffic to the strong tier"
        )
        if pred.top_features:
            why += (
                " (strongest signals: "
                + ", ".join(f"{name!r} {value:+.3f}" for name, value in pred.top_features[:3])
                + ")"
            )
        learned = {
            "p_strong": round(pred.p_strong, 4),
            "p_weak": round(pred.p_weak, 4),
            "score": round(pred.score, 4),
            "threshold": round(self._threshold, 4),
            "strong_share": self.strong_share,
            "top_features": [list(f) for f in pred.top_features],
        }
        return tier, LEARNED, why, round(pred.p_strong, 4), learned

    def _facts(self, prompt: str, context_size: int, *, keywords: bool) -> _Facts:
        tokens = estimate_tokens(prompt)
        # the learned router reads no keyword lists: skip the matching (it is the costly part)
        return _Facts(
            prompt_tokens=tokens,
            total_tokens=tokens + context_size,
            structure=structure_of(prompt),
            matches=self._matcher.match(PromptView(prompt)) if keywords else {},
            instruction_matches=(
                self._matcher.match(PromptView(instruction_of(prompt))) if keywords else {}
            ),
        )

    def _first_match(self, facts: _Facts) -> Rule | None:
        for rule in self.rules.rules:
            if _holds(rule, facts):
                return rule
        return None

    def _output(self, tier: str, max_tokens: int | None) -> int:
        if max_tokens is not None:
            return max_tokens
        return self.rules.expected_output_tokens.get(tier, 768)

    @staticmethod
    def _fit(tier: str, need: dict[str, int], budget: int) -> str:
        cheaper = TIERS[: TIERS.index(tier)]
        fitting = [t for t in cheaper if need[t] <= budget]
        if fitting:
            return fitting[-1]  # the most capable cheaper tier that fits
        return TIERS[0] if cheaper else tier

    @staticmethod
    def _evidence(rule: Rule, facts: _Facts) -> str:
        parts = []
        matches = facts.scoped(rule)
        for name in rule.keywords:
            if name in matches:
                parts.append(f"{name} keywords: {', '.join(matches[name][:5])}")
        if rule.tokens_over is not None:
            parts.append(f"{facts.total_tokens} tokens > {rule.tokens_over}")
        if rule.chars_under is not None:
            parts.append(f"{facts.structure.chars} chars < {rule.chars_under}")
        return f" ({'; '.join(parts)})" if parts else ""

    @staticmethod
    def _signals(
        facts: _Facts,
        context_size: int,
        rule: str,
        budget_remaining: int | None,
        downgraded_from: str | None,
    ) -> dict[str, Any]:
        s = facts.structure
        return {
            "estimated_tokens": facts.prompt_tokens,
            "context_size": context_size,
            "total_tokens": facts.total_tokens,
            "chars": s.chars,
            "lines": s.lines,
            "code_blocks": s.code_blocks,
            "numbered_steps": s.numbered_steps,
            "bullets": s.bullets,
            "questions": s.questions,
            "matched_keywords": {k: v[:10] for k, v in facts.matches.items()},
            "rule": rule,
            "budget_remaining": budget_remaining,
            "downgraded_from": downgraded_from,
        }


def _holds(rule: Rule, facts: _Facts) -> bool:
    """Whether every condition the rule sets holds for these facts."""
    s, total = facts.structure, facts.total_tokens
    checks = (
        rule.tokens_over is None or total > rule.tokens_over,
        rule.tokens_under is None or total < rule.tokens_under,
        rule.chars_over is None or s.chars > rule.chars_over,
        rule.chars_under is None or s.chars < rule.chars_under,
        rule.code_blocks_min is None or s.code_blocks >= rule.code_blocks_min,
        rule.code_blocks_max is None or s.code_blocks <= rule.code_blocks_max,
        rule.steps_min is None or s.numbered_steps >= rule.steps_min,
        rule.steps_max is None or s.numbered_steps <= rule.steps_max,
    )
    if not all(checks):
        return False
    matches = facts.scoped(rule)
    if any(name in matches for name in rule.unless):
        return False
    if rule.keywords:
        hits = sum(len(matches.get(name, ())) for name in rule.keywords)
        return hits >= rule.min_matches
    return True


@functools.lru_cache(maxsize=1)
def _default_router() -> Router:
    # Built on first use, not at import time; the default rules never change in a process.
    return Router()


def auto_select_model(
    prompt: str, context_size: int = 0, budget_remaining: int | None = None
) -> str:
    """The seed's API: the tier alias (``"haiku"``, ``"sonnet"`` or ``"opus"``) for a prompt,
    with the default (learned) router and prices.

    >>> auto_select_model("hi", budget_remaining=10)
    'haiku'
    """
    return (
        _default_router()
        .route(prompt, context_size=context_size, budget_remaining=budget_remaining)
        .model
    )
