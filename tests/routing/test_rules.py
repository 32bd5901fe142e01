"""Rules as data: the packaged defaults, TOML/YAML files that extend or replace them, and
errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_code_api.config import Settings
from claude_code_api.routing import (
    PROFILES,
    Router,
    RulesFileError,
    builtin_rules,
    default_rules,
    load_rules,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_rules_keep_the_seed_order() -> None:
    rules = default_rules()
    names = [r.name for r in rules.rules]
    seed = ["large_context", "analysis", "simple_short"]
    assert [n for n in names if n in seed] == seed
    assert rules.rule("large_context").tokens_over == 10_000
    assert rules.rule("simple_short").chars_under == 100
    assert (rules.low_budget_tokens, rules.low_budget_tier) == (1000, "haiku")
    assert rules.default_tier == "sonnet"
    assert load_rules(None) == rules


def test_toml_extends_defaults_with_keywords(tmp_path: Path) -> None:
    assert Router(load_rules("seed")).route("write a postmortem").model == "haiku"
    path = write(
        tmp_path,
        "rules.toml",
        'extends = "default"\n\n[add_keywords]\nanalysis = ["postmortem"]\n',
    )
    router = Router(load_rules(path))
    decision = router.route("write a postmortem")
    assert (decision.model, decision.rule) == ("sonnet", "analysis")
    assert router.rules.source == str(path)


def test_toml_changes_a_threshold_and_adds_a_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.toml",
        """extends = "default"

[keywords]
legal = ["contract", "indemnif*"]

[[rules]]
name = "large_context"
tokens_over = 50000

[[rules]]
name = "legal_review"
tier = "opus"
keywords = ["legal"]
before = "large_context"
""",
    )
    router = Router(load_rules(path))
    assert [r.name for r in router.rules.rules][:2] == ["legal_review", "large_context"]
    assert router.rules.rule("large_context").tier == "opus"  # unchanged fields are kept
    assert router.route("Summarise this", context_size=20_000).model != "opus"
    assert router.route("Summarise this", context_size=60_000).model == "opus"
    assert router.route("Check the indemnification clause").model == "opus"


def test_toml_removes_and_disables_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.toml",
        'extends = "default"\nremove_rules = ["short_chat", "short_howto"]\n'
        '[[rules]]\nname = "simple_transform"\nenabled = false\n',
    )
    names = [r.name for r in load_rules(path).rules]
    assert "short_chat" not in names
    assert "simple_transform" not in names
    assert "simple_short" in names


def test_yaml_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.yaml",
        """default_tier: haiku
budget:
  low_budget_tokens: 10
keywords:
  urgent: [urgent, "asap"]
rules:
  - name: urgent
    tier: opus
    keywords: [urgent]
    description: urgent work
""",
    )
    router = Router(load_rules(path))
    assert [r.name for r in router.rules.rules] == ["urgent"]
    decision = router.route("URGENT: fix the login page")
    assert (decision.model, decision.rule) == ("opus", "urgent")
    assert router.route("Analyze the architecture of our system").model == "haiku"
    assert router.route("hello", budget_remaining=500).model == "haiku"


def test_yml_extension_and_after_placement(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.yml",
        "extends: default\nrules:\n  - name: math\n    tier: opus\n    keywords: [math]\n"
        "    after: analysis\nkeywords:\n  math: [integral]\n",
    )
    names = [r.name for r in load_rules(path).rules]
    assert names[names.index("analysis") + 1] == "math"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", 'extends = "default"\n\n[budget]\nlow_budget_tokens 5\n')
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}:4: TOML syntax error")
    assert info.value.line == 4


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "extends: default\nkeywords:\n  analysis: [a, b\nx: 1\n")
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert "YAML syntax error" in str(info.value)
    assert info.value.line is not None and info.value.line >= 3


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            'extends = "default"\n\n[[rules]]\nname = "x"\nkeywords = ["analysis"]\n'
            'tier = "gpt-4"\n',
            6,
            "tier must be one of",
        ),
        (
            'extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\ntokens_over = -5\n',
            5,
            "tokens_over must be an integer >= 0",
        ),
        (
            'extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\ncolour = "red"\n',
            5,
            "unknown key 'colour'",
        ),
        (
            'extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\nkeywords = ["nope"]\n',
            5,
            "unknown keyword list 'nope'",
        ),
        ('extends = "default"\n\nfoo = 1\n', 3, "unknown key 'foo'"),
        ('extends = "nothing"\n', 1, 'extends must be "seed" or "default" or "cost_aware"'),
        ('extends = ["default"]\n', 1, "extends must be"),
        ('extends = "default"\n[budget]\nlow_budget_tokens = "lots"\n', 3, "low_budget_tokens"),
        ('extends = "default"\n[budget]\nmystery = 1\n', 3, "unknown key 'mystery'"),
        ('extends = "default"\n[add_keywords]\nnope = ["a"]\n', 3, "no keyword list"),
        ('extends = "default"\nremove_rules = ["ghost"]\n', 2, "no rule named 'ghost'"),
        ('extends = "default"\n[expected_output_tokens]\ngpt = 5\n', 3, "must be one of"),
        ('extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\n', 3, "has no condition"),
        (
            'extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\nchars_under = 5\n'
            'scope = "everywhere"\n',
            6,
            "scope must be",
        ),
        (
            'extends = "default"\n[[rules]]\nname = "x"\ntier = "opus"\nchars_under = 5\n'
            'before = "ghost"\n',
            6,
            "before names no rule",
        ),
        ("version = 2\nextends = 'default'\n", 1, "unsupported version"),
        ('extends = "default"\n[keywords]\nanalysis = "debug"\n', 3, "list of non-empty"),
    ],
)
def test_semantic_errors_name_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, "rules.toml", text)
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_yaml_semantic_error_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.yaml",
        "keywords:\n  k: [a]\nrules:\n  - name: first\n    tier: haiku\n    keywords: [k]\n"
        "  - name: second\n    keywords: [k]\n    tier: mistral\n",
    )
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert info.value.line == 9
    assert "rule 'second'" in str(info.value)


def test_duplicate_rule_names_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.yaml",
        "keywords: {k: [a]}\nrules:\n  - {name: a, tier: haiku, keywords: [k]}\n"
        "  - {name: a, tier: opus, keywords: [k]}\n",
    )
    with pytest.raises(RulesFileError, match="duplicate rule name 'a'"):
        load_rules(path)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("rules.json", "{}", "nor a file ending in .toml, .yaml or .yml"),
        ("rules.yaml", "- just\n- a list\n", "mapping at the top level"),
        ("rules.toml", "default_tier = 'haiku'\n", 'needs "rules" and "keywords"'),
    ],
)
def test_unusable_files_are_rejected(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    with pytest.raises(RulesFileError, match=fragment):
        load_rules(write(tmp_path, name, text))


def test_missing_file_fails_at_startup(tmp_path: Path) -> None:
    settings = Settings(router_rules=str(tmp_path / "absent.toml"))
    with pytest.raises(RulesFileError, match="cannot read rules file"):
        Router.from_settings(settings)


def test_empty_yaml_file_means_no_rules(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match='needs "rules" and "keywords"'):
        load_rules(write(tmp_path, "rules.yaml", ""))


LONG_DOC = "\n".join(
    f"Line {i}: the meeting moved on to item {i} of the agenda." for i in range(900)
)


def test_cost_aware_profile_keeps_long_lookups_off_opus() -> None:
    seed, cost_aware = Router(load_rules("default")), Router(load_rules("cost_aware"))
    lookup = f"List all the action items in this transcript:\n\n{LONG_DOC}"
    review = f"Review these minutes and assess what went wrong in the planning.\n\n{LONG_DOC}"
    deep = f"Reconcile the figures across quarters and flag every inconsistency.\n\n{LONG_DOC}"
    assert seed.route(lookup).model == seed.route(review).model == "opus"
    decision = cost_aware.route(lookup)
    assert (decision.model, decision.rule) == ("haiku", "large_context_lookup")
    assert cost_aware.route(review).model == "sonnet"
    assert (cost_aware.route(deep).model, cost_aware.route(deep).rule) == ("opus", "large_context")
    # Short prompts are routed as by the defaults it extends.
    assert cost_aware.route("hi").model == seed.route("hi").model == "haiku"
    assert cost_aware.rules.source == "cost_aware"


def test_profiles_are_selectable_by_name_in_settings_and_files(tmp_path: Path) -> None:
    assert set(PROFILES) == {"seed", "default", "cost_aware"}
    assert load_rules("default") == default_rules() == builtin_rules("default")
    router = Router.from_settings(Settings(router_rules="cost_aware"))
    assert router.rules == builtin_rules("cost_aware")
    path = write(
        tmp_path, "rules.toml", 'extends = "cost_aware"\n[budget]\nlow_budget_tokens = 5\n'
    )
    extended = load_rules(path)
    assert extended.low_budget_tokens == 5
    assert extended.rule("large_context_lookup") == builtin_rules("cost_aware").rule(
        "large_context_lookup"
    )
    with pytest.raises(RulesFileError, match="not a rules profile"):
        load_rules("cheap")
