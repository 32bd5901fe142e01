"""Validators for untrusted input, shared by every surface (no web framework imported here).

Every value that can reach the CLI's argv, a response header, a storage key or a usage row
passes one of these first, so the rules live in one place:

- :func:`parse_model`: a strict grammar of model names. ``auto``, the tier aliases
  (``haiku``, ``sonnet``, ``opus``) and Claude ids whose tier is read from the id's *structure*
  (``claude-<tier>-<version>[-<date>]`` or the older ``claude-<version>-<tier>[-<date>]``),
  never by looking for a tier name anywhere in the string.
- :func:`check_text`: valid Unicode scalar values only; NUL and lone surrogates are refused.
- :func:`check_identifier`: project ids, session ids and key names by a strict pattern with
  a length cap.

Each raises :class:`~claude_code_api.errors.InvalidRequestError` naming the field (``param``),
which every surface renders as a 400 in its own error shape.

>>> parse_model("claude-opus-4-1-20250805").tier
'opus'
>>> parse_model("Haiku").name
'haiku'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from claude_code_api.domain import Image, Message
from claude_code_api.errors import InvalidRequestError, NotFoundError

#: Tiers, cheapest first (the same tuple as ``pricing.TIERS``; kept here so this module stays
#: a leaf that anything can import).
TIERS: Final = ("haiku", "sonnet", "opus")

#: Longest model name accepted (real ids are < 40 characters).
MAX_MODEL_LENGTH: Final = 100
#: Longest identifier (project id, session id, key name): the storage columns hold 128.
MAX_IDENTIFIER_LENGTH: Final = 128

_TIER = r"(?P<tier>haiku|sonnet|opus)"
_VERSION = r"\d{1,2}(?:[-.]\d{1,2})?"
_SUFFIX = r"(?:[-@]\d{8}|-latest)?"
#: ``claude-haiku-4-5-20251001``, ``claude-opus-4-1``, ``claude-sonnet-5``.
_NEW_STYLE = re.compile(rf"claude-{_TIER}-{_VERSION}{_SUFFIX}")
#: ``claude-3-5-haiku-20241022``, ``claude-3-opus-latest``.
_OLD_STYLE = re.compile(rf"claude-{_VERSION}-{_TIER}{_SUFFIX}")
#: Characters a model name may be made of at all; anything else is a 400, not a 404.
_MODEL_CHARS = re.compile(r"[A-Za-z0-9._@:-]+")

#: Identifiers start with a letter or digit, then letters, digits and ``_ . : -``. ``:`` is
#: allowed because existing deployments use project ids like ``acme:fin``; storage keys never
#: join components with a separator (see ``cache.keys.encode_component``), so it is harmless.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
#: Key names are labels for humans: also spaces, ``/``, ``@``, ``+``, ``#`` and parentheses.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+#/() -]*")


@dataclass(frozen=True, slots=True)
class ModelName:
    """A validated model name: ``name`` is what the CLI gets, ``tier`` None means ``auto``."""

    name: str
    tier: str | None


def parse_model(value: object, *, field: str = "model") -> ModelName:
    """Validate a requested model name and read its tier from its structure.

    Raises a 400 for a value that is not a plausible name (wrong type, control characters,
    too long) and a 404 ``model_not_found`` for a well-formed name that is not a Claude model.

    >>> parse_model("claude-3-5-haiku-20241022")
    ModelName(name='claude-3-5-haiku-20241022', tier='haiku')
    >>> parse_model("auto").tier is None
    True
    """
    if not isinstance(value, str):
        raise InvalidRequestError(f"'{field}' must be a string.", param=field)
    name = value.strip()
    if not name or len(name) > MAX_MODEL_LENGTH or not _MODEL_CHARS.fullmatch(name):
        raise InvalidRequestError(
            f"'{field}' is not a valid model name (at most {MAX_MODEL_LENGTH} characters of "
            "letters, digits and . _ @ : -).",
            param=field,
        )
    lower = name.lower()
    if lower == "auto":
        return ModelName("auto", None)
    if lower in TIERS:
        return ModelName(lower, lower)
    match = _NEW_STYLE.fullmatch(lower) or _OLD_STYLE.fullmatch(lower)
    if match is None:
        raise NotFoundError(
            f"The model '{name}' does not exist. Use auto, haiku, sonnet, opus or a full "
            "Claude model id.",
            param=field,
            code="model_not_found",
        )
    return ModelName(lower, match.group("tier"))


def text_problem(value: str) -> str | None:
    """Why ``value`` is not storable text (NUL, a lone surrogate), or None when it is."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not a Unicode scalar value)"
    return None


def check_text(value: str, *, field: str, max_length: int | None = None) -> str:
    """``value`` unchanged when it is valid Unicode text without NUL, else a 400 naming it."""
    problem = text_problem(value)
    if problem is not None:
        raise InvalidRequestError(f"'{field}' {problem}.", param=field)
    if max_length is not None and len(value) > max_length:
        raise InvalidRequestError(f"'{field}' is longer than {max_length} characters.", param=field)
    return value


def check_messages(messages: Sequence[Message]) -> None:
    """Every text part and image field of a conversation is valid text (400 naming it).

    Surfaces differ in shape, so the field is named by position: ``messages[2].content``.
    """
    for index, message in enumerate(messages):
        for part in message.parts:
            if isinstance(part, Image):
                for key, value in part.source.items():
                    check_text(value, field=f"messages[{index}].content.{key}")
            else:
                check_text(part, field=f"messages[{index}].content")


def check_identifier(
    value: object, *, field: str, max_length: int = MAX_IDENTIFIER_LENGTH, label: bool = False
) -> str:
    """A project id, session id (``label=False``) or key name (``label=True``), else a 400.

    >>> check_identifier("acme:fin", field="project_id")
    'acme:fin'
    """
    if not isinstance(value, str):
        raise InvalidRequestError(f"'{field}' must be a string.", param=field)
    pattern = _LABEL if label else _IDENTIFIER
    if len(value) > max_length:
        raise InvalidRequestError(f"'{field}' is longer than {max_length} characters.", param=field)
    if not pattern.fullmatch(value):
        allowed = (
            "letters, digits, spaces and _ . : @ + # / ( ) -"
            if label
            else ("letters, digits and _ . : -")
        )
        raise InvalidRequestError(
            f"'{field}' must start with a letter or digit and contain only {allowed}.",
            param=field,
        )
    return value
