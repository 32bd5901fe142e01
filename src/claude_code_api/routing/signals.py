"""What the router looks at in a prompt: keyword matches and structure, in linear time.

Keyword matching is case-insensitive and whole-word. It avoids one big alternation regex on
purpose: such a regex tries every alternative at every position, which is slow on a 1 MB
prompt. Instead the prompt's words are collected once into a set (single words are set lookups,
``prefix*`` keywords a bisect in the sorted words) and only multi-word phrases are searched with
their own small regex; Chinese, Japanese and Korean keywords (no spaces between words) are
substring tests; other scripts (``übersetz*``) match words like ASCII keywords do.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KeywordMatcher", "PromptView", "Structure", "instruction_of", "structure_of"]

_WORD = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")
_NUMBERED = re.compile(r"^[ \t]*\d{1,3}[.)][ \t]+\S", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*[-*\u2022][ \t]+\S", re.MULTILINE)


# Chinese, Japanese and Korean (Hangul particles attach to words): no spaces to find words by.
_UNSPACED_SCRIPT = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LEAD_IN = re.compile(r":\s")
_INSTRUCTION_CHARS = 400


def instruction_of(text: str) -> str:
    """The part of a prompt that most likely states the task, without pasted material.

    Heuristic: the first paragraph; if it leads in to material with a colon ("Summarize this
    email: <email>", "Extract the dates:\n\n<text>") only the part before the colon. Without
    such a lead-in, the last paragraph is added too (the question after a pasted document).
    Each part is capped at 400 characters; linear time.
    """
    head_end = _PARAGRAPH_BREAK.search(text, 0, 20_000)
    first_end = head_end.start() if head_end else len(text)
    colon = _LEAD_IN.search(text, 0, min(first_end + 1, _INSTRUCTION_CHARS))
    if colon is not None:
        return text[: colon.start()]
    first = text[: min(first_end, _INSTRUCTION_CHARS)]
    if head_end is None:
        return first
    last = text[text.rfind("\n\n") :].strip()[-_INSTRUCTION_CHARS:]
    return f"{first}\n\n{last}" if last else first


class PromptView:
    """A prompt prepared once for matching: lower-cased text, its word set, sorted words."""

    def __init__(self, text: str) -> None:
        self.text = text.lower()
        self.words = frozenset(_WORD.findall(self.text))
        self._sorted: list[str] | None = None

    def first_word_with_prefix(self, prefix: str) -> str | None:
        """A word of the prompt starting with ``prefix`` (the smallest), or ``None``."""
        if self._sorted is None:
            self._sorted = sorted(self.words)
        i = bisect.bisect_left(self._sorted, prefix)
        if i < len(self._sorted) and self._sorted[i].startswith(prefix):
            return self._sorted[i]
        return None


def _phrase_pattern(keyword: str) -> re.Pattern[str]:
    prefix = keyword.endswith("*")
    parts = [re.escape(p) for p in keyword.rstrip("*").split()]
    # No leading look-behind: a pattern that starts with a literal lets the regex engine skip
    # ahead with a fast substring search; the left word boundary is checked in ``_search``.
    # "fencing token*" also matches "fencing tokens"; "c++" ends in a non-word character.
    word_end = r"(?!\w)" if re.search(r"\w$", keyword) else ""
    tail = r"\w*" if prefix else word_end
    return re.compile(r"\s+".join(parts) + tail)


def _search(pattern: re.Pattern[str], text: str, left_boundary: bool) -> str | None:
    pos = 0
    while (found := pattern.search(text, pos)) is not None:
        start = found.start()
        if not left_boundary or start == 0 or not _WORD_CHAR.match(text, start - 1):
            return " ".join(found.group(0).split())
        pos = start + 1
    return None


@dataclass(frozen=True, slots=True)
class _Keyword:
    text: str
    kind: str  # "word" | "prefix" | "phrase" | "substring"
    pattern: re.Pattern[str] | None = None
    words: frozenset[str] = frozenset()  # a phrase's whole words: all must be in the prompt


def _compile(keyword: str) -> _Keyword:
    if _UNSPACED_SCRIPT.search(keyword):
        return _Keyword(keyword.rstrip("*"), "substring")
    if keyword.endswith("*") and _WORD.fullmatch(keyword[:-1]):
        return _Keyword(keyword[:-1], "prefix")
    if _WORD.fullmatch(keyword):
        return _Keyword(keyword, "word")
    whole = _WORD.findall(keyword.rstrip("*"))
    if keyword.endswith("*"):
        whole = whole[:-1]  # the last word is a prefix: it need not be a word of the prompt
    words = frozenset(whole)
    return _Keyword(keyword, "phrase", _phrase_pattern(keyword), words)


class KeywordMatcher:
    """Compiled keyword lists; :meth:`match` returns the matched words of each list."""

    def __init__(self, lists: Mapping[str, Iterable[str]]) -> None:
        self._lists = {name: [_compile(k) for k in words] for name, words in lists.items()}

    def match(self, view: PromptView, names: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Matched keywords per list name (only lists with at least one match are present)."""
        found: dict[str, list[str]] = {}
        for name in self._lists if names is None else names:
            hits: list[str] = []
            for kw in self._lists[name]:
                hit = _hit(kw, view)
                if hit is not None and hit not in hits:
                    hits.append(hit)
            if hits:
                found[name] = hits
        return found


def _hit(kw: _Keyword, view: PromptView) -> str | None:
    if kw.kind == "word":
        return kw.text if kw.text in view.words else None
    if kw.kind == "prefix":
        return view.first_word_with_prefix(kw.text)
    if kw.kind == "substring":
        return kw.text if kw.text in view.text else None
    assert kw.pattern is not None
    if not kw.words <= view.words:  # cheap pre-filter: a missing word rules the phrase out
        return None
    return _search(kw.pattern, view.text, left_boundary=bool(_WORD_CHAR.match(kw.text)))


@dataclass(frozen=True, slots=True)
class Structure:
    """Shape of a prompt: fenced code blocks, numbered steps, bullets, questions, lines."""

    chars: int
    lines: int
    code_blocks: int
    numbered_steps: int
    bullets: int
    questions: int


def structure_of(text: str) -> Structure:
    """Count the structural signals of ``text`` (all linear-time)."""
    return Structure(
        chars=len(text),
        lines=text.count("\n") + 1 if text else 0,
        code_blocks=text.count("```") // 2,
        numbered_steps=len(_NUMBERED.findall(text)),
        bullets=len(_BULLET.findall(text)),
        questions=text.count("?") + text.count("\uff1f"),
    )
