"""Request fields → the CLI's thinking settings (what they do upstream is tested on the real
binary in tests/workers/test_real_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_code_api.domain import TaskRequest
from claude_code_api.errors import InvalidRequestError
from claude_code_api.thinking import Thinking, from_anthropic, from_openai
from claude_code_api.workers import build_argv, build_env
from tests.workers.conftest import make_settings


def test_no_thinking_unless_asked_in_chat_mode() -> None:
    assert from_openai(None) == Thinking(0, None) == from_anthropic(None, 100)
    assert from_openai(None, mode="agent") == Thinking(None, None)  # the CLI's own defaults
    assert TaskRequest(prompt="x").thinking_budget == 0


@pytest.mark.parametrize(
    ("effort", "expected"),
    [
        ("none", Thinking(0, None)),
        ("minimal", Thinking(1024, "low")),
        ("low", Thinking(4096, "low")),
        ("medium", Thinking(16_384, "medium")),
        ("high", Thinking(31_999, "high")),
        ("xhigh", Thinking(31_999, "max")),
    ],
)
def test_openai_reasoning_effort(effort: str, expected: Thinking) -> None:
    assert from_openai(effort) == expected


def test_anthropic_thinking() -> None:
    assert from_anthropic({"type": "disabled"}, 100) == Thinking(0, None)
    assert from_anthropic({"type": "adaptive"}, 100) == Thinking(None, None)
    assert from_anthropic({"type": "enabled", "budget_tokens": 2048}, 4096) == Thinking(2048, "low")
    assert from_anthropic({"type": "enabled", "budget_tokens": 10_000}, None).effort == "medium"
    assert from_anthropic({"type": "enabled", "budget_tokens": 30_000}, None).effort == "high"


@pytest.mark.parametrize(
    ("body", "max_tokens", "message"),
    [
        ({"type": "enabled", "budget_tokens": 512}, None, ">= 1024"),
        ({"type": "enabled"}, None, ">= 1024"),
        ({"type": "enabled", "budget_tokens": True}, None, ">= 1024"),
        ({"type": "enabled", "budget_tokens": 2048}, 2048, "less than max_tokens"),
        ({"type": "sometimes"}, None, "enabled, disabled or adaptive"),
    ],
)
def test_bad_anthropic_thinking_is_a_400(
    body: dict[str, object], max_tokens: int | None, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        from_anthropic(body, max_tokens)
    assert info.value.status_code == 400


def test_bad_reasoning_effort_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="reasoning_effort must be one of"):
        from_openai("extreme")


def test_the_task_fields_reach_the_cli(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    off = TaskRequest(prompt="x")
    assert build_env(settings, off, {})["MAX_THINKING_TOKENS"] == "0"
    assert "--effort" not in build_argv(settings, off)
    sized = TaskRequest(prompt="x", thinking_budget=4096, effort="low")
    assert build_env(settings, sized, {})["MAX_THINKING_TOKENS"] == "4096"
    argv = build_argv(settings, sized)
    assert argv[argv.index("--effort") + 1] == "low"
    # the CLI's default: the server's own MAX_THINKING_TOKENS does not leak through either
    cli_default = TaskRequest(prompt="x", thinking_budget=None)
    assert "MAX_THINKING_TOKENS" not in build_env(
        settings, cli_default, {"MAX_THINKING_TOKENS": "9"}
    )
    restored = TaskRequest.from_dict(sized.to_dict())
    assert (restored.thinking_budget, restored.effort) == (4096, "low")
