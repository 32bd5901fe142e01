"""Seed module name ``model_router``: a thin re-export of :mod:`claude_code_api.routing`."""

from __future__ import annotations

from claude_code_api.routing import (
    RouteDecision,
    Router,
    RulesFileError,
    auto_select_model,
    estimate_tokens,
    load_rules,
)

__all__ = [
    "RouteDecision",
    "Router",
    "RulesFileError",
    "auto_select_model",
    "estimate_tokens",
    "load_rules",
]
