"""Routing rules as data: the dataclasses, the packaged profiles and TOML/YAML rule files.

Two rule profiles are packaged: ``seed`` (the seed's rules, ``default_rules.toml``; ``default``
is its older name, kept so existing rules files still load) and ``cost_aware``
(``cost_aware_rules.toml``: a large context alone no longer means opus). The service's default
router is not a rule set but the learned one (:mod:`claude_code_api.routing.learned`).
``CCAPI_ROUTER_RULES`` names a profile or a rules file. A rules file either replaces the rules
or, with ``extends = "<profile>"``, edits them: override settings, replace or add keyword lists
(``[keywords]``), append keywords (``[add_keywords]``), change a rule by naming it (only the
fields given change), add a rule (placed with ``before``/``after`` or appended), or drop rules
(``remove_rules``). The format is documented in ``default_rules.toml`` and ``docs/ROUTING.md``.

Every problem is reported as :class:`RulesFileError` whose message starts with ``file:line:``,
so a bad file fails the service at startup with a message pointing at the line to fix.
"""

from __future__ import annotations

import copy
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from claude_code_api.pricing import TIERS

__all__ = [
    "DEFAULT_RULES_NAME",
    "PROFILES",
    "Rule",
    "RuleSet",
    "RulesFileError",
    "builtin_rules",
    "default_rules",
    "load_rules",
]

DEFAULT_RULES_NAME = "default_rules.toml"
#: Packaged rule profiles: ``CCAPI_ROUTER_RULES`` and ``extends`` accept these names.
PROFILES: dict[str, str] = {
    "seed": DEFAULT_RULES_NAME,
    "default": DEFAULT_RULES_NAME,  # the seed profile's name before the learned router
    "cost_aware": "cost_aware_rules.toml",
}

_INT_FIELDS = (
    "tokens_over",
    "tokens_under",
    "chars_over",
    "chars_under",
    "code_blocks_min",
    "code_blocks_max",
    "steps_min",
    "steps_max",
)
_RULE_KEYS = frozenset(
    {"name", "tier", "description", "keywords", "unless", "min_matches", "enabled", "before"}
    | {"after", "scope", *_INT_FIELDS}
)
_TOP_KEYS = frozenset(
    {"version", "extends", "default_tier", "budget", "expected_output_tokens", "keywords"}
    | {"add_keywords", "rules", "remove_rules"}
)
_BUDGET_KEYS = frozenset({"low_budget_tokens", "low_budget_tier", "downgrade_to_fit"})
#: Output tokens assumed per tier when neither the request nor the rules file says.
DEFAULT_EXPECTED_OUTPUT: dict[str, int] = {"haiku": 256, "sonnet": 768, "opus": 1536}


class RulesFileError(ValueError):
    """A rules file cannot be read or is invalid; ``str()`` is ``"file:line: message"``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Rule:
    """One routing rule: when every given condition holds, route to ``tier``.

    ``keywords``/``unless`` name keyword lists of the :class:`RuleSet`; ``scope`` says where
    they are looked for: the whole ``"prompt"`` or only the ``"instruction"`` (the first
    paragraph up to a colon, plus the last paragraph), so pasted material does not count.
    Integer conditions left as ``None`` are not checked.
    """

    name: str
    tier: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    min_matches: int = 1
    scope: str = "prompt"
    tokens_over: int | None = None
    tokens_under: int | None = None
    chars_over: int | None = None
    chars_under: int | None = None
    code_blocks_min: int | None = None
    code_blocks_max: int | None = None
    steps_min: int | None = None
    steps_max: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything the router needs: ordered rules, keyword lists, budget policy, defaults."""

    rules: tuple[Rule, ...]
    keywords: Mapping[str, tuple[str, ...]]
    default_tier: str = "sonnet"
    low_budget_tokens: int = 1000
    low_budget_tier: str = "haiku"
    downgrade_to_fit: bool = True
    expected_output_tokens: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_EXPECTED_OUTPUT)
    )
    source: str = "default"

    def rule(self, name: str) -> Rule:
        """The rule called ``name`` (``KeyError`` if absent)."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


# --- loading -------------------------------------------------------------------------------


def _profile_text(name: str) -> str:
    return resources.files("claude_code_api.routing").joinpath(PROFILES[name]).read_text("utf-8")


@functools.lru_cache(maxsize=len(PROFILES))
def _profile_raw(name: str) -> dict[str, Any]:
    # Parsed and merged lazily, once per profile: packaged files are immutable; callers get
    # deep copies.
    text = _profile_text(name)
    source = PROFILES[name]
    return _resolve(_parse(text, source, "toml"), _Locator(text, source), source)


def builtin_rules(name: str) -> RuleSet:
    """A packaged profile's rules (``KeyError`` for a name not in :data:`PROFILES`)."""
    source = PROFILES[name]
    name = "seed" if name == "default" else name  # one profile, two names
    raw = copy.deepcopy(_profile_raw(name))
    return _build(raw, _Locator(_profile_text(name), source), name)


def default_rules() -> RuleSet:
    """The seed's rules (profile ``seed``, ``default_rules.toml``)."""
    return builtin_rules("seed")


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Rules from a profile name (:data:`PROFILES`) or a TOML (``.toml``) or YAML
    (``.yaml``/``.yml``) file; ``None`` → the seed profile.

    Raises :class:`RulesFileError` (``"file:line: message"``) when the file is missing,
    malformed or semantically invalid.
    """
    if path is None:
        return default_rules()
    if str(path) in PROFILES:
        return builtin_rules(str(path))
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise RulesFileError(
            source,
            None,
            f"not a rules profile ({', '.join(PROFILES)}) nor a file ending in .toml, .yaml "
            "or .yml",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(source, None, f"cannot read rules file: {exc}") from exc
    raw = _parse(text, source, "toml" if suffix == ".toml" else "yaml")
    loc = _Locator(text, source)
    return _build(_resolve(raw, loc, source), loc, source)


def _resolve(raw: dict[str, Any], loc: _Locator, source: str) -> dict[str, Any]:
    """Check the file's shape and apply its ``extends`` (the result is complete raw rules)."""
    _check_shape(raw, loc)
    extends = raw.pop("extends", None)
    if extends is not None:
        if not isinstance(extends, str) or extends not in PROFILES:
            names = " or ".join(f'"{name}"' for name in PROFILES)
            raise RulesFileError(source, loc.line("extends"), f"extends must be {names}")
        return _merge(copy.deepcopy(_profile_raw(extends)), raw, loc)
    if "rules" not in raw or "keywords" not in raw:
        raise RulesFileError(
            source, 1, 'a rules file needs "rules" and "keywords", or extends = "<profile>"'
        )
    return raw


def _parse(text: str, source: str, fmt: str) -> dict[str, Any]:
    if fmt == "toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            line = int(match.group(1)) if match else None
            raise RulesFileError(source, line, f"TOML syntax error: {exc}") from exc
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise RulesFileError(source, line, f"YAML syntax error: {problem}") from exc
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise RulesFileError(source, 1, "the rules file must be a mapping at the top level")
    return data


_BLOCK_START = re.compile(r"^\s*(?:\[\[|-\s)")


class _Locator:
    """Finds the line of a key in the file's text, for semantic errors (parsers keep none)."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def line(self, key: str, *, after: str | None = None) -> int | None:
        """1-based line of ``key =`` / ``key:`` (searching from the line naming ``after``)."""
        start = 0
        if after is not None:
            anchor = re.compile(r"""name\s*[=:]\s*["']?""" + re.escape(after) + r"""["']?\s*$""")
            for i, text in enumerate(self.lines):
                if anchor.search(text):
                    # From the start of that rule's block ("[[rules]]" or a YAML "- " item):
                    # its other keys may come before its name.
                    start = next(
                        (j for j in range(i, -1, -1) if _BLOCK_START.match(self.lines[j])), i
                    )
                    break
        pattern = re.compile(r"""^\s*(?:-\s*)?["']?""" + re.escape(key) + r"""["']?\s*[=:]""")
        header = re.compile(r"^\s*\[+\s*" + re.escape(key) + r"\s*\]+")
        for i in range(start, len(self.lines)):
            if pattern.search(self.lines[i]) or header.search(self.lines[i]):
                return i + 1
        return start + 1 if after is not None else None

    def error(self, message: str, key: str, *, rule: str | None = None) -> RulesFileError:
        """A :class:`RulesFileError` pointing at ``key`` (inside ``rule`` when given)."""
        return RulesFileError(self.source, self.line(key, after=rule), message)


def _check_shape(raw: dict[str, Any], loc: _Locator) -> None:
    """Reject unknown keys and wrong container types before merging (line numbers still valid)."""
    for key in raw:
        if key not in _TOP_KEYS:
            raise loc.error(f"unknown key {key!r}; expected one of {sorted(_TOP_KEYS)}", key)
    for key in ("budget", "expected_output_tokens", "keywords", "add_keywords"):
        if key in raw and not isinstance(raw[key], dict):
            raise loc.error(f"{key!r} must be a table/mapping", key)
    for key in ("rules", "remove_rules"):
        if key in raw and not isinstance(raw[key], list):
            raise loc.error(f"{key!r} must be a list", key)
    for i, rule in enumerate(raw.get("rules", [])):
        if not isinstance(rule, dict):
            raise loc.error(f"rules[{i}] must be a table/mapping", "rules")
        name = rule.get("name")
        if not isinstance(name, str) or not name:
            raise loc.error(f"rules[{i}] needs a non-empty string 'name'", "rules")
        for key in rule:
            if key not in _RULE_KEYS:
                raise loc.error(
                    f"rule {name!r}: unknown key {key!r}; expected one of {sorted(_RULE_KEYS)}",
                    key,
                    rule=name,
                )


def _merge(base: dict[str, Any], edit: dict[str, Any], loc: _Locator) -> dict[str, Any]:
    """Apply an ``extends`` file's edits to its profile's rules (see the module doc)."""
    for key in ("version", "default_tier"):
        if key in edit:
            base[key] = edit[key]
    for key in ("budget", "expected_output_tokens", "keywords"):
        base.setdefault(key, {}).update(edit.get(key, {}))
    for name, extra in edit.get("add_keywords", {}).items():
        if name not in base["keywords"]:
            raise loc.error(f"add_keywords: no keyword list named {name!r}", name)
        if not isinstance(extra, list):
            raise loc.error(f"add_keywords.{name} must be a list of strings", name)
        base["keywords"][name] = [*base["keywords"][name], *extra]
    rules: list[dict[str, Any]] = base.setdefault("rules", [])
    for name in edit.get("remove_rules", []):
        index = _index_of(rules, name)
        if index is None:
            raise loc.error(f"remove_rules: no rule named {name!r}", "remove_rules")
        rules.pop(index)
    for rule in edit.get("rules", []):
        name = rule["name"]
        index = _index_of(rules, name)
        if index is not None:
            rule = {**rules.pop(index), **rule}
        _place(rules, rule, index, loc)
    return base


def _index_of(rules: list[dict[str, Any]], name: object) -> int | None:
    for i, rule in enumerate(rules):
        if rule.get("name") == name:
            return i
    return None


def _place(
    rules: list[dict[str, Any]], rule: dict[str, Any], index: int | None, loc: _Locator
) -> None:
    before, after = rule.pop("before", None), rule.pop("after", None)
    anchor = before if before is not None else after
    if anchor is None:
        rules.insert(len(rules) if index is None else index, rule)
        return
    target = _index_of(rules, anchor)
    if target is None:
        key = "before" if before is not None else "after"
        raise loc.error(
            f"rule {rule['name']!r}: {key} names no rule {anchor!r}", key, rule=rule["name"]
        )
    rules.insert(target if before is not None else target + 1, rule)


def _build(raw: dict[str, Any], loc: _Locator, source: str) -> RuleSet:
    """Validate the (merged) raw data and build the immutable :class:`RuleSet`."""
    version = raw.get("version", 1)
    if version != 1:
        raise loc.error(f"unsupported version {version!r} (only 1)", "version")
    keywords = _keyword_lists(raw.get("keywords", {}), loc)
    budget = raw.get("budget", {})
    for key in budget:
        if key not in _BUDGET_KEYS:
            raise loc.error(f"budget: unknown key {key!r}; expected {sorted(_BUDGET_KEYS)}", key)
    outputs = dict(DEFAULT_EXPECTED_OUTPUT)
    for tier, value in raw.get("expected_output_tokens", {}).items():
        _tier(tier, loc, tier)
        outputs[tier] = _int(value, loc, tier, "expected_output_tokens." + tier, minimum=1)
    rules: list[Rule] = []
    seen: set[str] = set()
    for spec in raw.get("rules", []):
        rule = _rule(spec, keywords, loc)
        if rule.name in seen:
            raise loc.error(f"duplicate rule name {rule.name!r}", "name", rule=rule.name)
        seen.add(rule.name)
        if spec.get("enabled", True) is not False:
            rules.append(rule)
    downgrade = budget.get("downgrade_to_fit", True)
    if not isinstance(downgrade, bool):
        raise loc.error("budget.downgrade_to_fit must be true or false", "downgrade_to_fit")
    return RuleSet(
        rules=tuple(rules),
        keywords=keywords,
        default_tier=_tier(raw.get("default_tier", "sonnet"), loc, "default_tier"),
        low_budget_tokens=_int(
            budget.get("low_budget_tokens", 1000), loc, "low_budget_tokens", "low_budget_tokens"
        ),
        low_budget_tier=_tier(budget.get("low_budget_tier", "haiku"), loc, "low_budget_tier"),
        downgrade_to_fit=downgrade,
        expected_output_tokens=outputs,
        source=source,
    )


def _keyword_lists(raw: object, loc: _Locator) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise loc.error("'keywords' must be a table/mapping of lists", "keywords")
    lists: dict[str, tuple[str, ...]] = {}
    for name, words in raw.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise loc.error(f"keywords.{name} must be a list of non-empty strings", str(name))
        lists[str(name)] = tuple(" ".join(w.lower().split()) for w in words)
    return lists


def _rule(spec: dict[str, Any], keywords: Mapping[str, tuple[str, ...]], loc: _Locator) -> Rule:
    name = spec["name"]
    where = f"rule {name!r}"
    if "tier" not in spec:
        raise loc.error(f"{where}: missing 'tier'", "name", rule=name)
    ints: dict[str, int | None] = {}
    for key in _INT_FIELDS:
        value = spec.get(key)
        ints[key] = None if value is None else _int(value, loc, key, f"{where}: {key}", rule=name)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("keywords", "unless"):
        value = spec.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise loc.error(f"{where}: {key} must be a list of keyword-list names", key, rule=name)
        for ref in value:
            if ref not in keywords:
                raise loc.error(
                    f"{where}: {key} names unknown keyword list {ref!r}; defined lists: "
                    f"{sorted(keywords)}",
                    key,
                    rule=name,
                )
        lists[key] = tuple(value)
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise loc.error(f"{where}: description must be a string", "description", rule=name)
    if not isinstance(spec.get("enabled", True), bool):
        raise loc.error(f"{where}: enabled must be true or false", "enabled", rule=name)
    min_matches = _int(spec.get("min_matches", 1), loc, "min_matches", where, rule=name, minimum=1)
    scope = spec.get("scope", "prompt")
    if scope not in ("prompt", "instruction"):
        raise loc.error(
            f'{where}: scope must be "prompt" or "instruction", got {scope!r}', "scope", rule=name
        )
    conditions = any(v is not None for v in ints.values()) or lists["keywords"] or lists["unless"]
    if not conditions:
        raise loc.error(
            f"{where}: has no condition, so it would match everything", "name", rule=name
        )
    return Rule(
        name=name,
        tier=_tier(spec["tier"], loc, "tier", rule=name),
        description=description,
        keywords=lists["keywords"],
        unless=lists["unless"],
        min_matches=min_matches,
        scope=scope,
        **ints,
    )


def _tier(value: object, loc: _Locator, key: str, *, rule: str | None = None) -> str:
    if not isinstance(value, str) or value.lower() not in TIERS:
        prefix = f"rule {rule!r}: " if rule else ""
        raise loc.error(
            f"{prefix}{key} must be one of {list(TIERS)}, got {value!r}", key, rule=rule
        )
    return value.lower()


def _int(
    value: object,
    loc: _Locator,
    key: str,
    what: str,
    *,
    rule: str | None = None,
    minimum: int = 0,
) -> int:
    # bool is an int subclass: `tokens_over = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise loc.error(f"{what} must be an integer >= {minimum}, got {value!r}", key, rule=rule)
    return value
