"""Turn a message list into what one CLI call takes: a system prompt, earlier turns, a prompt.

Earlier turns travel as **real turns**: :attr:`Conversation.history` holds the messages before
the new user message, the worker rebuilds a CLI session file from them and resumes it
(``claude -p --resume``, see ``workers/session_file.py``), and :attr:`Conversation.last` (the
new user message) goes on stdin. The model then sees user, assistant and tool turns as they
were, and the CLI's prompt caching reads the earlier turns back from the cache instead of
billing them as new input on every turn. Nothing is kept between requests: the state is the
request's own messages, so a continuation, a regenerated answer, an edited earlier turn and a
new conversation are told apart by content, on any replica.

:attr:`Conversation.prompt` is still the whole conversation rendered as one text (routing,
token estimates and cache keys read it, and a conversation that ends with tool results whose
suspended run is gone is sent that way, see below):

    <conversation>
    User: first question
    Assistant: first answer
    </conversation>

    second question

System (and ``developer``) messages are joined into the CLI's ``--system-prompt``. When the
conversation does not fit the model's context window (with room for the answer), the oldest
turns are dropped first and the response says how many in ``x-ccapi-dropped-turns``.

Images (user messages only) are sent after the prompt's text, in order, and each one leaves an
``[image]`` marker where it stood in the transcript; a dropped turn drops its images too.

Tool turns (client tools): an assistant message's ``tool_calls`` and the ``tool`` messages that
answer them. The last turn may be the results of the model's last calls: they become
:attr:`Conversation.tool_results`, which resume the CLI run suspended on those calls. Only when
that run is gone (timed out, evicted, its process gone or, without Redis, another replica)
does the model read the tool turns from the transcript, rendered as::

    Assistant: text, if any
    <tool_calls>
    {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_calls>
    <tool_results>
    <result tool_call_id="call_1" name="get_weather">sunny</result>
    </tool_results>

(``is_error="true"`` marks an error result.) Such a conversation cannot be resumed from a
rebuilt session on CLI 2.1.197 (a session ending in a tool_use or a tool_result is "repaired" by
the CLI with made-up turns: DEVELOPERS.md), so it keeps the rendered transcript. Tool turns
*before* the new user message are real ``tool_use``/``tool_result`` turns when the request
offers tools, and rendered text inside real assistant/user turns when it does not (the
Messages API rejects tool blocks in a request that defines no tools, as far as we know: the
fake upstream cannot tell, so the safe form is used).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from claude_code_api.domain import Message, ToolResult
from claude_code_api.errors import InvalidRequestError

ROLE_LABELS = {"user": "User", "assistant": "Assistant"}
IMAGE_MARKER = "[image]"
#: Tokens an image is estimated at (Anthropic: width x height / 750, about 1,600 for an image
#: resized to the model's ~1.15 megapixel limit); budgets reserve this much per image.
IMAGE_TOKENS = 1_600
#: Images in one request at most.
MAX_IMAGES = 20


@dataclass(frozen=True, slots=True)
class Conversation:
    """The CLI-ready form of a message list."""

    system_prompt: str | None
    prompt: str
    dropped_turns: int
    transcript: tuple[tuple[str, str], ...]  # (role, text) actually sent, for cache keys
    images: tuple[dict[str, str], ...] = ()  # Anthropic image sources, in transcript order
    #: The results that end the conversation (answers to the model's last tool calls).
    tool_results: tuple[ToolResult, ...] = ()
    #: Real turns before the new user message (no system messages; ends with an assistant or
    #: tool message). Empty for a single turn and for a conversation ending in tool results.
    history: tuple[Message, ...] = ()
    #: The new user message(s) as one text (what goes on stdin when ``history`` is set).
    last: str = ""
    #: The images of :attr:`last` (those of earlier turns stay in ``history``).
    last_images: tuple[dict[str, str], ...] = ()


def build_conversation(
    messages: Sequence[Message],
    *,
    context_window: int,
    reserve_output: int,
    estimate: Callable[[str], int],
    real_tool_turns: bool = True,
) -> Conversation:
    """Build the prompt, dropping the oldest turns if the estimate exceeds the window.

    ``estimate`` is the shared token estimator (``routing.estimate_tokens``).
    ``real_tool_turns=False`` (a request offering no tools) renders earlier tool turns as text.
    """
    system_parts = [m.text() for m in messages if m.role in ("system", "developer")]
    if any(m.images() for m in messages if m.role != "user"):
        raise InvalidRequestError(
            "Images are only supported in user messages.", param="messages", code="invalid_image"
        )
    turns, turn_images, results, groups = _turns(messages)
    if sum(map(len, turn_images)) > MAX_IMAGES:
        raise InvalidRequestError(
            f"At most {MAX_IMAGES} images per request.", param="messages", code="invalid_image"
        )

    def count(text: str, images: int = 0) -> int:
        return estimate(text) + IMAGE_TOKENS * images

    if not turns or turns[-1][0] not in ("user", "tool"):
        raise InvalidRequestError(
            "The last message must have role 'user' (or 'tool', answering the last tool calls).",
            param="messages",
            code="invalid_messages",
        )
    system_prompt = "\n\n".join(p for p in system_parts if p) or None
    budget = context_window - reserve_output - (count(system_prompt) if system_prompt else 0)
    last = turns[-1][1]
    if count(last, len(turn_images[-1])) > budget:
        raise InvalidRequestError(
            "The last message alone exceeds the model's context window "
            f"({context_window} tokens including {reserve_output} reserved for the answer).",
            param="messages",
            code="context_length_exceeded",
        )
    history = turns[:-1]
    dropped = 0
    sizes = [
        count(text, len(images)) + 2
        for (_, text), images in zip(history, turn_images[:-1], strict=True)
    ]
    total = count(last, len(turn_images[-1])) + sum(sizes)
    while history and total > budget:
        total -= sizes.pop(0)
        history.pop(0)
        dropped += 1
    kept = groups[dropped:]
    real: list[Message] = []
    tail: list[Message] = []
    if not results:
        for (role, text), group in zip(turns[dropped:], kept, strict=True):
            if real_tool_turns or not (role == "tool" or group[0].tool_calls):
                real += group
            else:  # the turn as rendered in the transcript, in a plain text message
                real.append(Message.of("user" if role == "tool" else "assistant", text))
        # The new user message, with any user messages right before it (no answer between).
        while real and real[-1].role == "user":
            tail.insert(0, real.pop())
        while real and real[0].role == "tool":  # results of calls dropped with their turn
            real.pop(0)
    return Conversation(
        system_prompt=system_prompt,
        prompt=_render(history, last),
        dropped_turns=dropped,
        transcript=(*history, ("user", last)),
        images=tuple(image for images in turn_images[dropped:] for image in images),
        tool_results=results,
        history=tuple(real),
        last="\n\n".join(m.text(IMAGE_MARKER) for m in tail),
        last_images=tuple(image for m in tail for image in m.images()),
    )


def _turns(
    messages: Sequence[Message],
) -> tuple[
    list[tuple[str, str]], list[list[dict[str, str]]], tuple[ToolResult, ...], list[list[Message]]
]:
    """``(role, text)`` turns (each run of tool messages is one ``tool`` turn), their images,
    the results ending the conversation and each turn's messages. A tool message must answer
    an earlier call."""
    turns: list[tuple[str, str]] = []
    images: list[list[dict[str, str]]] = []
    groups: list[list[Message]] = []
    calls: dict[str, str] = {}  # tool_call id -> tool name, from assistant messages
    results: list[ToolResult] = []
    for index, message in enumerate(messages):
        if message.role in ("system", "developer"):
            continue
        if message.role != "tool":
            results = []
            text = message.text(IMAGE_MARKER)
            for call in message.tool_calls:
                calls[call.id] = call.name
            if message.role == "assistant" and message.tool_calls:
                text = _render_calls(text, message)
            turns.append((message.role, text))
            images.append(message.images())
            groups.append([message])
            continue
        tool_call_id = message.tool_call_id or ""
        if tool_call_id not in calls:
            raise InvalidRequestError(
                f"messages[{index}].tool_call_id {tool_call_id[:100]!r} matches no tool call "
                "of an earlier assistant message.",
                param=f"messages[{index}].tool_call_id",
                code="invalid_tool_call_id",
            )
        result = ToolResult(tool_call_id, message.text(), is_error=message.is_error)
        line = (
            f'<result tool_call_id="{escape(tool_call_id)}" name="{escape(calls[tool_call_id])}"'
            + (' is_error="true"' if result.is_error else "")
            + f">{result.content}</result>"
        )
        if results:  # the same round of results: one turn
            role, text = turns[-1]
            turns[-1] = (role, text.replace("\n</tool_results>", f"\n{line}\n</tool_results>"))
            groups[-1].append(message)
        else:
            turns.append(("tool", f"<tool_results>\n{line}\n</tool_results>"))
            images.append([])
            groups.append([message])
        results.append(result)
    return turns, images, tuple(results), groups


def _render_calls(text: str, message: Message) -> str:
    lines = [
        json.dumps({"id": c.id, "name": c.name, "arguments": c.arguments})
        for c in message.tool_calls
    ]
    block = "<tool_calls>\n" + "\n".join(lines) + "\n</tool_calls>"
    return f"{text}\n{block}" if text else block


def _render(history: list[tuple[str, str]], last: str) -> str:
    if not history:
        return last
    lines = [text if role == "tool" else f"{ROLE_LABELS[role]}: {text}" for role, text in history]
    return "<conversation>\n" + "\n".join(lines) + "\n</conversation>\n\n" + last


def prompt_tokens(conversation: Conversation, estimate: Callable[[str], int]) -> int:
    """The input-token estimate of a conversation: prompt, system prompt and images.

    The one estimate budgets reserve and ``/v1/messages/count_tokens`` reports.
    """
    system = conversation.system_prompt
    return (
        estimate(conversation.prompt)
        + (estimate(system) if system else 0)
        + IMAGE_TOKENS * len(conversation.images)
    )
