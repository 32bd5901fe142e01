"""Turn a message list into what one CLI call takes: a system prompt and a prompt.

The CLI answers a single prompt, so earlier turns travel inside it as a transcript:

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from claude_code_api.domain import Message
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


def build_conversation(
    messages: Sequence[Message],
    *,
    context_window: int,
    reserve_output: int,
    estimate: Callable[[str], int],
) -> Conversation:
    """Build the prompt, dropping the oldest turns if the estimate exceeds the window.

    ``estimate`` is the shared token estimator (``routing.estimate_tokens``).
    """
    system_parts = [m.text() for m in messages if m.role in ("system", "developer")]
    spoken = [m for m in messages if m.role in ("user", "assistant")]
    if any(m.images() for m in messages if m.role != "user"):
        raise InvalidRequestError(
            "Images are only supported in user messages.", param="messages", code="invalid_image"
        )
    turn_images = [m.images() for m in spoken]
    if sum(map(len, turn_images)) > MAX_IMAGES:
        raise InvalidRequestError(
            f"At most {MAX_IMAGES} images per request.", param="messages", code="invalid_image"
        )

    def count(text: str, images: int = 0) -> int:
        return estimate(text) + IMAGE_TOKENS * images

    turns: list[tuple[str, str]] = [(m.role, m.text(IMAGE_MARKER)) for m in spoken]
    if not turns or turns[-1][0] != "user":
        raise InvalidRequestError(
            "The last message must have role 'user'.", param="messages", code="invalid_messages"
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
    return Conversation(
        system_prompt=system_prompt,
        prompt=_render(history, last),
        dropped_turns=dropped,
        transcript=(*history, ("user", last)),
        images=tuple(image for images in turn_images[dropped:] for image in images),
    )


def _render(history: list[tuple[str, str]], last: str) -> str:
    if not history:
        return last
    lines = [f"{ROLE_LABELS[role]}: {text}" for role, text in history]
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
