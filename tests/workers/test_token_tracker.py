"""Parsing the CLI's json / stream-json output and pricing tokens."""

from __future__ import annotations

import json

import pytest

from claude_code_api.errors import (
    CLIBudgetCapError,
    CLIOutputError,
    CLIResultError,
    UpstreamAuthError,
    UpstreamOverloadedError,
    UpstreamRateLimitError,
)
from claude_code_api.pricing import PriceTable
from claude_code_api.token_tracker import calculate_cost, parse_claude_output
from claude_code_api.workers.protocol import redact, summarize_stderr

# Shape copied from the real CLI 2.1.x (`claude -p --output-format json`).
REAL_JSON = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "api_error_status": None,
    "duration_ms": 239,
    "num_turns": 1,
    "result": "Hello there.",
    "session_id": "b285baa7",
    "total_cost_usd": 0.001046,
    "usage": {
        "input_tokens": 946,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 5,
        "output_tokens": 20,
    },
    "modelUsage": {"claude-haiku-4-5": {"inputTokens": 946, "outputTokens": 20}},
}


def stream_lines(*deltas: str, result: dict[str, object] | None = None) -> str:
    events: list[dict[str, object]] = [{"type": "system", "subtype": "init"}]
    events.append(
        {
            "type": "stream_event",
            "event": {
                "type": "message_start",
                "message": {
                    "model": "claude-opus-4-1",
                    "usage": {"input_tokens": 30, "output_tokens": 1},
                },
            },
        }
    )
    for text in deltas:
        events.append(
            {
                "type": "stream_event",
                "event": {
                    "type": "content_block_delta",
                    "delta": {"type": "text_delta", "text": text},
                },
            }
        )
    lines = [json.dumps(e) for e in events]
    if result is not None:
        lines.append(json.dumps(result))
    return "\n".join(lines) + "\n"


def test_parse_claude_output() -> None:
    result = parse_claude_output(REAL_JSON)
    assert result.text == "Hello there."
    assert result.model == "claude-haiku-4-5"
    assert result.usage.input_tokens == 946
    assert result.usage.output_tokens == 20
    assert result.usage.cache_creation_input_tokens == 10
    assert result.usage.cache_read_input_tokens == 5
    assert result.usage.prompt_tokens == 961
    assert result.usage.cost_usd == pytest.approx(0.001046)  # the CLI's own cost wins
    assert result.session_id == "b285baa7"
    assert result.stop_reason == "stop"
    assert parse_claude_output(json.dumps(REAL_JSON)).text == "Hello there."
    assert parse_claude_output(json.dumps(REAL_JSON).encode()).usage.output_tokens == 20


def test_parse_stream_json_output() -> None:
    final = dict(REAL_JSON, result="Hi you")
    result = parse_claude_output(stream_lines("Hi ", "you", result=final))
    assert result.text == "Hi you"


def test_parse_falls_back_to_streamed_text_when_result_is_empty() -> None:
    final = dict(REAL_JSON, result="")
    assert parse_claude_output(stream_lines("streamed ", "text", result=final)).text == (
        "streamed text"
    )


def test_empty_answer_with_output_tokens_is_an_error() -> None:
    with pytest.raises(CLIOutputError):
        parse_claude_output(dict(REAL_JSON, result=""))


def test_missing_result_event_is_an_error() -> None:
    with pytest.raises(CLIOutputError, match="without a final result"):
        parse_claude_output(stream_lines("partial"))


def test_non_json_lines_are_tolerated() -> None:
    text = "a log line\n" + stream_lines("ok", result=dict(REAL_JSON, result="ok")) + "[1, 2]\n"
    assert parse_claude_output(text).text == "ok"


def test_invalid_single_json_is_an_error() -> None:
    with pytest.raises(CLIOutputError):
        parse_claude_output('{"type": "result", "result": "trunc')
    with pytest.raises(CLIOutputError):
        parse_claude_output("not json at all")


def test_cost_from_price_table_when_cli_reports_none() -> None:
    raw = {k: v for k, v in REAL_JSON.items() if k != "total_cost_usd"}
    result = parse_claude_output(raw, prices=PriceTable({"haiku": {"input": 1.0, "output": 2.0}}))
    # 946 uncached input, 10 cache writes at 1.25x, 5 cache reads at 0.1x, 20 output.
    prompt = 946 * 1.0 + 10 * 1.25 + 5 * 0.1
    assert result.usage.cost_usd == pytest.approx((prompt + 20 * 2.0) / 1000)


def test_model_defaults_to_requested_when_output_names_none() -> None:
    raw = {k: v for k, v in REAL_JSON.items() if k != "modelUsage"}
    assert parse_claude_output(raw, model="claude-opus-4-1").model == "claude-opus-4-1"


def test_truncated_stream_reports_length() -> None:
    error = dict(
        REAL_JSON,
        is_error=True,
        result="API Error: Claude's response exceeded the 5 output token maximum.",
    )
    result = parse_claude_output(stream_lines("one ", "two", result=error))
    assert result.stop_reason == "length"
    assert result.text == "one two"
    assert result.model == "claude-opus-4-1"
    assert result.usage.input_tokens == 30
    assert result.usage.cost_usd == pytest.approx(calculate_cost("opus", 30, 1))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"api_error_status": 529}, UpstreamOverloadedError),
        ({"result": "API Error: Overloaded"}, UpstreamOverloadedError),
        ({"api_error_status": 429}, UpstreamRateLimitError),
        ({"api_error_status": 401}, UpstreamAuthError),
        ({"result": "Invalid API key · Please run /login"}, UpstreamAuthError),
        ({"subtype": "error_max_budget_usd", "result": ""}, CLIBudgetCapError),
        ({"subtype": "error_during_execution", "result": "boom"}, CLIResultError),
    ],
)
def test_is_error_results_are_classified(fields: dict[str, object], error: type) -> None:
    raw = dict(REAL_JSON, is_error=True, **fields)
    with pytest.raises(error) as caught:
        parse_claude_output(raw)
    assert type(caught.value) is error
    assert caught.value.subtype == raw["subtype"]


def test_calculate_cost() -> None:
    assert calculate_cost("haiku", 1000, 1000) == pytest.approx(0.0005)
    assert calculate_cost("sonnet", 2000, 0) == pytest.approx(0.006)
    assert calculate_cost("claude-opus-4-1-20250805", 0, 1000) == pytest.approx(0.015)
    custom = PriceTable({"sonnet": {"input": 0.003, "output": 0.015}})
    assert calculate_cost("sonnet", 1000, 1000, prices=custom) == pytest.approx(0.018)


def test_secrets_are_redacted() -> None:
    text = redact("key=sk-ant-api03-SECRET Authorization: Bearer tok.en-1 api_key: hunter2")
    assert "SECRET" not in text and "tok.en-1" not in text and "hunter2" not in text
    summary = summarize_stderr(b"x" * 2000 + b"\n\nuse sk-ant-XYZ\n", limit=100)
    assert "XYZ" not in summary and "use [REDACTED]" in summary and len(summary) <= 101


def test_parse_verbose_json_array() -> None:
    events = [{"type": "system", "subtype": "init"}, {"type": "assistant"}, REAL_JSON]
    assert parse_claude_output(json.dumps(events)).text == "Hello there."
    with pytest.raises(CLIOutputError):
        parse_claude_output("[1, 2")
