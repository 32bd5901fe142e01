"""Keys and prompts never reach a log line, at any level (DEBUG included).

The service's own code never logs a key or a prompt, but its libraries do at DEBUG: uvicorn's
WebSocket implementation (the ``websockets`` package) logs every handshake header
(``Authorization: Bearer ...``) and every frame's payload (``{"type": "auth", "api_key": ...}``,
the messages of a chat). Instead of chasing each logger, :func:`install` sets a log *record
factory*, which every record of every logger passes through once, after the level check and
before any handler or formatter sees it. It

- replaces the payload of WebSocket frame records with its size (frames carry prompts);
- masks credentials by shape: API keys (``ccapi_...``, ``sk-ant-...``), the value after
  ``Authorization``/``X-Api-Key``/``Cookie`` headers, ``"api_key": "..."`` fields, and any
  literal registered with :func:`register_secret` (the admin key, ``ANTHROPIC_API_KEY``).

The record's message is formatted once, redacted, and stored with empty ``args``, so a handler
configured later (uvicorn's, pytest's) cannot format the raw arguments again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

MASK = "[redacted]"


def _header(match: re.Match[str]) -> str:
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{MASK}"


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # "Authorization: Bearer x", "(b'authorization', b'Bearer x')", "X-Api-Key: x", "Cookie: a"
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|cookie|set-cookie)"
            r"(['\"]?\s*[:=,]\s*(?:b?['\"])?)(?:(bearer|basic)\s+)?[^\s'\",;)}\]]+"
        ),
        _header,
    ),
    (
        re.compile(r"(?i)([\"']?(?:api_key|admin_key|secret)[\"']?\s*[:=]\s*)[\"'][^\"']*[\"']"),
        rf'\1"{MASK}"',
    ),
    (re.compile(r"\bccapi_[A-Za-z0-9_\-]{6,}"), f"ccapi_{MASK}"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{6,}"), f"sk-ant-{MASK}"),
)
#: websockets' frame log lines: ``< TEXT '{"type": ...}' [58 bytes]`` (also BINARY, CONT).
_FRAME = re.compile(r"^([<>] (?:TEXT|BINARY|CONT|CONTINUATION))\b.*?(\[\d+ bytes\])?$", re.S)

_lock = threading.Lock()
_secrets: set[str] = set()
_installed: list[Callable[..., logging.LogRecord]] = []


def register_secret(value: str | None) -> None:
    """Mask this exact string wherever it appears in a log message (ignored if short)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def redact(message: str) -> str:
    """``message`` with frame payloads and credentials masked.

    >>> redact("< Authorization: Bearer ccapi_abcdefgh123")
    '< Authorization: Bearer [redacted]'
    """
    frame = _FRAME.match(message)
    if frame is not None:
        return f"{frame.group(1)} {MASK} {frame.group(2) or ''}".rstrip()
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    for secret in tuple(_secrets):
        if secret in message:
            message = message.replace(secret, MASK)
    return message


def install() -> None:
    """Install the redacting record factory (idempotent; wraps the current factory)."""
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: keep only its template
                message = str(record.msg)
            record.msg = redact(message)
            record.args = ()
            return record

        _installed.append(previous)
        logging.setLogRecordFactory(factory)
