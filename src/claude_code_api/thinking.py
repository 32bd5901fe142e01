"""Extended thinking only when asked: request fields → the CLI's thinking settings.

The CLI turns thinking on by itself (haiku: a 31,999-token budget; sonnet and opus: adaptive
thinking at effort high), and thinking tokens are billed as output. A chat-API caller expects
none unless it asks, so chat-mode tasks default to thinking off. What reaches the upstream was
measured on CLI 2.1.197 with the fake upstream (``tests/workers/test_real_cli.py``):

- ``MAX_THINKING_TOKENS=0`` → ``thinking: {"type": "disabled"}`` on every model;
- ``MAX_THINKING_TOKENS=N`` → haiku ``{"type": "enabled", "budget_tokens": N}``; sonnet and opus
  stay ``{"type": "adaptive"}`` (the number is ignored);
- ``--effort low|medium|high|max`` → ``output_config.effort`` on sonnet and opus (haiku sends
  none); ``alwaysThinkingEnabled: false`` in ``--settings`` also disables thinking.

Mapping (the task's ``thinking_budget`` / ``effort``):

======================================  ==========================  ========
request                                 thinking_budget             effort
======================================  ==========================  ========
nothing (chat mode)                     0 (off)                     CLI's
nothing (agent mode)                    CLI default                 CLI's
OpenAI ``reasoning_effort: none``       0                           CLI's
``minimal`` / ``low``                   1,024 / 4,096               low
``medium`` / ``high`` / ``xhigh``       16,384 / 31,999 / 31,999    medium / high / max
Anthropic ``thinking: disabled``        0                           CLI's
``{"type": "enabled", budget_tokens}``  budget_tokens               by size
Anthropic ``thinking: adaptive``        CLI default                 CLI's
======================================  ==========================  ========

"By size": under 8,192 → low, under 24,576 → medium, else high (sonnet and opus cannot take a
number, so the budget chooses their effort).
"""

from __future__ import annotations

from typing import Any

from claude_code_api.domain import Thinking
from claude_code_api.errors import InvalidRequestError

__all__ = ["EFFORTS", "REASONING_EFFORTS", "Thinking", "from_anthropic", "from_openai"]

EFFORTS = ("low", "medium", "high", "max")
REASONING_EFFORTS: dict[str, tuple[int, str | None]] = {
    "none": (0, None),
    "minimal": (1024, "low"),
    "low": (4096, "low"),
    "medium": (16_384, "medium"),
    "high": (31_999, "high"),
    "xhigh": (31_999, "max"),
}
MIN_BUDGET = 1024  # Anthropic's smallest thinking budget


def _effort_for(budget: int) -> str:
    return "low" if budget < 8192 else "medium" if budget < 24_576 else "high"


def from_openai(reasoning_effort: str | None, mode: str = "chat") -> Thinking:
    """OpenAI's ``reasoning_effort`` (``None``: not given)."""
    if reasoning_effort is None:
        return Thinking.default(mode)
    try:
        budget, effort = REASONING_EFFORTS[reasoning_effort]
    except KeyError:
        raise InvalidRequestError(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}",
            param="reasoning_effort",
        ) from None
    return Thinking(budget, effort)


def from_anthropic(
    thinking: dict[str, Any] | None, max_tokens: int | None, mode: str = "chat"
) -> Thinking:
    """Anthropic's ``thinking`` object (``None``: not given); the budget must be at least 1,024
    and below ``max_tokens``, as on the Messages API."""
    if thinking is None:
        return Thinking.default(mode)
    kind = thinking.get("type")
    if kind == "disabled":
        return Thinking(0, None)
    if kind == "adaptive":
        return Thinking(None, None)
    if kind != "enabled":
        raise InvalidRequestError(
            "thinking.type must be enabled, disabled or adaptive", param="thinking.type"
        )
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
        raise InvalidRequestError(
            f"thinking.budget_tokens must be an integer >= {MIN_BUDGET}",
            param="thinking.budget_tokens",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise InvalidRequestError(
            "thinking.budget_tokens must be less than max_tokens", param="thinking.budget_tokens"
        )
    return Thinking(budget, _effort_for(budget))
