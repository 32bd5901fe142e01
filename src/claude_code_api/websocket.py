"""Seed module name: the WebSocket endpoint lives in :mod:`claude_code_api.api.routes.websocket`."""

from __future__ import annotations

from claude_code_api.api.routes.websocket import router, stream

__all__ = ["router", "stream"]
