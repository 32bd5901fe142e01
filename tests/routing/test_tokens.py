"""Properties of the shared token estimator."""

from __future__ import annotations

import doctest

import pytest

from claude_code_api.routing import router, rules, signals, tokens
from claude_code_api.routing.tokens import estimate_tokens

PROSE = (
    "The committee reviewed the proposal in detail and agreed to fund the first phase, "
    "subject to a progress report at the end of the quarter. "
)
CODE = "def f(x):\n    return {'a': x[0], 'b': [i * 2 for i in range(x[1])]}  # ok\n"


def test_empty_is_zero_and_any_text_is_at_least_one() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens(" ") == 1


def test_english_prose_is_about_four_characters_per_token() -> None:
    text = PROSE * 20
    assert len(text) / 4.6 <= estimate_tokens(text) <= len(text) / 3.5


def test_code_costs_more_tokens_per_character_than_prose() -> None:
    code, prose = CODE * 20, PROSE * 20
    assert estimate_tokens(code) / len(code) > estimate_tokens(prose) / len(prose)
    assert len(code) / estimate_tokens(code) == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize(
    ("text", "per_char"),
    [
        ("我们下周一上午十点开会讨论新产品的发布计划", 1.0),
        ("明日は雨が降るので傘を持って行ってください", 1.0),
        ("오늘은 날씨가 좋습니다", 0.9),
        ("Приятного аппетита и хорошего дня", 0.5),
    ],
)
def test_non_latin_scripts_cost_more_per_character(text: str, per_char: float) -> None:
    assert estimate_tokens(text) >= per_char * len(text.replace(" ", "")) * 0.9
    assert estimate_tokens(text) > len(text) / 4


def test_estimate_is_additive_within_rounding() -> None:
    parts = [PROSE, CODE, "你好世界", "Grüße aus München"]
    whole = estimate_tokens("".join(parts))
    assert max(estimate_tokens(p) for p in parts) <= whole <= sum(estimate_tokens(p) for p in parts)
    assert estimate_tokens(PROSE * 1000) == pytest.approx(1000 * len(PROSE) / 4, rel=0.1)


def test_megabyte_input_is_estimated() -> None:
    text = (PROSE + CODE + "数据分析") * 5000
    assert len(text) > 1_000_000
    assert estimate_tokens(text) == pytest.approx(
        5000 * estimate_tokens(PROSE + CODE + "数据分析"), rel=0.01
    )


@pytest.mark.parametrize("module", [tokens, rules, signals, router])
def test_docstring_examples_hold(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0
