"""Claude Code API Service: a multi-tenant, OpenAI-compatible HTTP API over the Claude Code CLI.

Importing this package pulls in no server dependency: the client classes are loaded lazily so
``from claude_code_api import ClaudeClient`` needs only ``httpx``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsyncClaudeClient", "ClaudeClient", "__version__"]

if TYPE_CHECKING:
    from claude_code_api.client import AsyncClaudeClient, ClaudeClient


def __getattr__(name: str) -> Any:
    if name in ("ClaudeClient", "AsyncClaudeClient"):
        from claude_code_api import client

        return getattr(client, name)
    raise AttributeError(f"module 'claude_code_api' has no attribute {name!r}")
