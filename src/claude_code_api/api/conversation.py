"""Turn an OpenAI message list into what one CLI call takes: a system prompt and a prompt.

The CLI answers a single prompt, so earlier turns travel inside it as a transcript:

    <conversation>
    User: first question
    Assistant: first answer
    </conversation>

    second question

System (and ``developer``) messages are joined into the CLI's ``--system-prompt``. When the
conversation does not fit the model's context window (with room for the answer), the oldest
turns are dropped first and the response says how many in ``x-ccapi-dropped-turns``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from claude_code_api.api.schemas import ChatMessage
from claude_code_api.errors import InvalidRequestError

ROLE_LABELS = {"user": "User", "assistant": "Assistant"}


@dataclass(frozen=True, slots=True)
class Conversation:
    """The CLI-ready form of a message list."""

    system_prompt: str | None
    prompt: str
    dropped_turns: int
    transcript: tuple[tuple[str, str], ...]  # (role, text) actually sent, for cache keys


def build_conversation(
    messages: list[ChatMessage],
    *,
    context_window: int,
    reserve_output: int,
    estimate: Callable[[str], int],
) -> Conversation:
    """Build the prompt, dropping the oldest turns if the estimate exceeds the window.

    ``estimate`` is the shared token estimator (``routing.estimate_tokens``).
    """
    count = estimate
    system_parts = [m.text() for m in messages if m.role in ("system", "developer")]
    turns: list[tuple[str, str]] = [
        (m.role, m.text()) for m in messages if m.role in ("user", "assistant")
    ]
    if not turns or turns[-1][0] != "user":
        raise InvalidRequestError(
            "The last message must have role 'user'.", param="messages", code="invalid_messages"
        )
    system_prompt = "\n\n".join(p for p in system_parts if p) or None
    budget = context_window - reserve_output - (count(system_prompt) if system_prompt else 0)
    last = turns[-1][1]
    if count(last) > budget:
        raise InvalidRequestError(
            "The last message alone exceeds the model's context window "
            f"({context_window} tokens including {reserve_output} reserved for the answer).",
            param="messages",
            code="context_length_exceeded",
        )
    history = turns[:-1]
    dropped = 0
    sizes = [count(text) + 2 for _, text in history]
    total = count(last) + sum(sizes)
    while history and total > budget:
        total -= sizes.pop(0)
        history.pop(0)
        dropped += 1
    return Conversation(
        system_prompt=system_prompt,
        prompt=_render(history, last),
        dropped_turns=dropped,
        transcript=(*history, ("user", last)),
    )


def _render(history: list[tuple[str, str]], last: str) -> str:
    if not history:
        return last
    lines = [f"{ROLE_LABELS[role]}: {text}" for role, text in history]
    return "<conversation>\n" + "\n".join(lines) + "\n</conversation>\n\n" + last
