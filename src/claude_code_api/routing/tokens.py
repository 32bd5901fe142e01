"""The token estimator lives in the shared core (:mod:`claude_code_api.tokens`), used by the
router, budget reservations and the CLI output parser alike; re-exported here for the router."""

from __future__ import annotations

from claude_code_api.tokens import estimate_tokens

__all__ = ["estimate_tokens"]
