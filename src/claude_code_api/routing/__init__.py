"""Model auto-routing: the shared token estimator, rules as data, and the router.

>>> from claude_code_api.routing import Router, estimate_tokens
>>> Router().route("Translate 'good morning' into French").model
'haiku'
"""

from __future__ import annotations

from claude_code_api.routing.router import RouteDecision, Router, auto_select_model
from claude_code_api.routing.rules import (
    PROFILES,
    Rule,
    RuleSet,
    RulesFileError,
    builtin_rules,
    default_rules,
    load_rules,
)
from claude_code_api.routing.tokens import estimate_tokens

__all__ = [
    "PROFILES",
    "RouteDecision",
    "Router",
    "Rule",
    "RuleSet",
    "RulesFileError",
    "auto_select_model",
    "builtin_rules",
    "default_rules",
    "estimate_tokens",
    "load_rules",
]
