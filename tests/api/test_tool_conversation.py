"""The rendering of tool turns when a follow-up must rebuild the conversation."""

from __future__ import annotations

import pytest

from claude_code_api.api.schemas import ChatMessage
from claude_code_api.application.conversation import build_conversation
from claude_code_api.domain import ToolResult
from claude_code_api.errors import InvalidRequestError
from claude_code_api.routing import estimate_tokens


def convert(messages: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return build_conversation(
        [ChatMessage.model_validate(m).to_message() for m in messages],
        context_window=200_000,
        reserve_output=100,
        estimate=estimate_tokens,
    )


CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def test_tool_turns_are_rendered_and_the_last_results_kept() -> None:
    conversation = convert(
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
    )
    assert conversation.prompt == (
        "<conversation>\n"
        "User: Weather?\n"
        "Assistant: <tool_calls>\n"
        '{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}\n'
        "</tool_calls>\n"
        "</conversation>\n\n"
        "<tool_results>\n"
        '<result tool_call_id="call_1" name="get_weather">sunny</result>\n'
        "</tool_results>"
    )
    assert conversation.tool_results == (ToolResult("call_1", "sunny"),)


def test_earlier_results_are_history_and_a_user_turn_ends_the_results() -> None:
    conversation = convert(
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "down", "is_error": True},
            {"role": "assistant", "content": "It is down."},
            {"role": "user", "content": "Try again"},
        ]
    )
    assert conversation.tool_results == ()
    assert 'is_error="true">down</result>' in conversation.prompt
    assert "Assistant: Let me look.\n<tool_calls>" in conversation.prompt
    assert conversation.prompt.endswith("Try again")


def test_a_result_for_an_unknown_call_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as error:
        convert(
            [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_9", "content": "x"},
            ]
        )
    assert error.value.param == "messages[1].tool_call_id"
