"""The OpenAI Responses API through the official ``openai`` SDK, on the simulated CLI."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.api.conftest import (
    ServerThread,
    admin_create_key_sync,
    admin_headers,
    run,
    usage_when,
)

_opened: list[openai.OpenAI] = []


def _client(server: ServerThread, key: str) -> openai.OpenAI:
    """An SDK client on ``server``; closed (its connections too) when the test ends."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    _opened.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def _sha(answer: str) -> str:
    """The sha256 of the prompt the simulated CLI received (it prints it in its answer)."""
    match = re.search(r"sha256=([0-9a-f]{64})", answer)
    assert match, answer
    return match.group(1)


@pytest.fixture
def key(live_server: ServerThread) -> str:
    return admin_create_key_sync(live_server.url, "team:alpha")


def test_create_plain(live_server: ServerThread, key: str) -> None:
    client = _client(live_server, key)
    response = client.responses.create(
        model="haiku", input="Hello from the Responses API", instructions="Be brief."
    )
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert "haiku" in response.model
    assert response.instructions == "Be brief."
    assert response.output[0].type == "message"
    assert response.output_text.startswith("[claude-sim")
    # The prompt reached the CLI byte for byte (no transcript for a single turn).
    expected = hashlib.sha256(b"Hello from the Responses API").hexdigest()
    assert _sha(response.output_text) == expected
    assert response.usage is not None
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )
    assert response.usage.input_tokens_details.cached_tokens == 0


def _turns(*texts: str) -> list[dict[str, Any]]:
    """Alternating user/assistant messages as they reach the model from a resumed session:
    earlier turns as text blocks (the session file), the new input as stdin's plain text."""
    earlier = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": t}]}
        for i, t in enumerate(texts[:-1])
    ]
    return [*earlier, {"role": "user", "content": texts[-1]}]


def test_previous_response_id_sends_the_earlier_turn(
    live_server: ServerThread, key: str, sim_calls: Callable[[], list[dict[str, Any]]]
) -> None:
    client = _client(live_server, key)
    first = client.responses.create(model="haiku", input="My name is Ada.")
    second = client.responses.create(
        model="haiku", input="What is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    # The stored turns reached the model as real turns; only the new input went on stdin.
    assert _sha(second.output_text) == hashlib.sha256(b"What is my name?").hexdigest()
    assert sim_calls()[-1]["messages"] == _turns(
        "My name is Ada.", first.output_text, "What is my name?"
    )
    # A third turn carries both earlier turns.
    third = client.responses.create(
        model="haiku", input=[{"role": "user", "content": "And again?"}],
        previous_response_id=second.id,
    )  # fmt: skip
    assert sim_calls()[-1]["messages"] == _turns(
        "My name is Ada.", first.output_text, "What is my name?", second.output_text, "And again?"
    )
    assert third.output_text.endswith("Resumed: 4 earlier messages.")
    stored = client.responses.retrieve(third.id)
    assert stored.output_text == third.output_text


def test_streaming_sdk_helpers(live_server: ServerThread, key: str) -> None:
    client = _client(live_server, key)
    events = list(client.responses.create(model="sonnet", input="Stream a few words", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    assert completed.response.usage is not None and completed.response.usage.output_tokens > 0
    # The stream helper, continuing the streamed response.
    with client.responses.stream(
        model="sonnet", input="Continue", previous_response_id=completed.response.id
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert _sha(final.output_text) == hashlib.sha256(b"Continue").hexdigest()
    assert final.output_text.endswith("Resumed: 2 earlier messages.")
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_store_false_get_and_delete(live_server: ServerThread, key: str) -> None:
    client = _client(live_server, key)
    kept = client.responses.create(model="haiku", input="keep me")
    gone = client.responses.create(model="haiku", input="forget me", store=False)
    assert client.responses.retrieve(kept.id).id == kept.id
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(gone.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="haiku", input="x", previous_response_id=gone.id)
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_not-an-id")


def test_other_projects_ids_are_not_found(live_server: ServerThread, key: str) -> None:
    # Project ids with separators: "team:alpha" vs "team" / "team:alpha:x" must not meet.
    others = [admin_create_key_sync(live_server.url, p) for p in ("team", "team:alpha:x")]
    mine = _client(live_server, key).responses.create(model="haiku", input="secret plan")
    for other in others:
        client = _client(live_server, other)
        with pytest.raises(openai.NotFoundError) as info:
            client.responses.retrieve(mine.id)
        assert info.value.body == {  # the OpenAI error shape, no data of the owner
            "message": f"Response with id '{mine.id}' not found.",
            "type": "invalid_request_error",
            "param": "response_id",
            "code": "not_found",
        }
        with pytest.raises(openai.NotFoundError) as info:
            client.responses.create(model="haiku", input="leak?", previous_response_id=mine.id)
        assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            client.responses.delete(mine.id)
    # Still there for its own project; the admin key can look by naming the project.
    assert _client(live_server, key).responses.retrieve(mine.id).id == mine.id
    got = httpx.get(
        f"{live_server.url}/v1/responses/{mine.id}",
        params={"project_id": "team:alpha"},
        headers=admin_headers(),
    )
    assert got.status_code == 200 and got.json()["id"] == mine.id


@pytest.mark.parametrize(
    ("items", "param"),
    [
        ([{"role": "user", "content": "a"}, {"type": "reasoning", "summary": []}], "input[1].type"),
        ([{"role": "user", "content": "a"}, {"type": "function_call_output"}], "input[1].call_id"),
        (
            [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
            "input[0].content[0].type",
        ),
        ([{"role": "tool", "content": "a"}], "input[0].role"),
        ([{"role": ["user"], "content": "a"}], "input[0].role"),
        ([{"role": "user", "content": [{"type": ["input_text"]}]}], "input[0].content[0].type"),
        ([{"role": "user", "content": ["text"]}], "input[0].content[0].type"),
        ([{"role": "user", "content": 3}], "input[0].content"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "input[0].content[0].text"),
        ([], "input"),
    ],
)
def test_bad_input_items_are_400(
    live_server: ServerThread, key: str, items: list[dict[str, Any]], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(live_server, key).responses.create(model="haiku", input=items)  # type: ignore[arg-type]
    body: dict[str, Any] = info.value.body  # type: ignore[assignment]
    assert body["param"] == param
    assert body["type"] == "invalid_request_error"
    assert param in body["message"] or param == "input"


def test_built_in_tools_are_refused(live_server: ServerThread, key: str) -> None:
    # Function tools work (tests/api/test_responses_tools.py); built-in tools are not run.
    with pytest.raises(openai.BadRequestError) as info:
        _client(live_server, key).responses.create(
            model="haiku", input="hi", tools=[{"type": "web_search"}]
        )
    body: dict[str, Any] = info.value.body  # type: ignore[assignment]
    assert body["param"] == "tools[0].type" and "'web_search'" in body["message"]


def test_usage_rows_for_every_turn(live_server: ServerThread, key: str) -> None:
    client = _client(live_server, key)
    first = client.responses.create(model="haiku", input="one", max_output_tokens=64)
    client.responses.create(model="haiku", input="two", previous_response_id=first.id)

    async def rows() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            return await usage_when(http, key, lambda u: u["requests"] >= 2)

    usage = run(rows)
    assert usage["requests"] == 2
    assert usage["total_tokens"] > 0


def test_instructions_are_not_carried_over_but_input_system_items_are(
    live_server: ServerThread, key: str
) -> None:
    client = _client(live_server, key)
    long = "Answer in the voice of a pirate. " * 120  # ~1,000 tokens of system prompt

    def second_turn_input(**first: Any) -> int:
        one = client.responses.create(model="haiku", **first)
        two = client.responses.create(model="haiku", input="more", previous_response_id=one.id)
        assert two.usage is not None
        return two.usage.input_tokens

    plain = second_turn_input(input="hi")
    with_instructions = second_turn_input(input="hi", instructions=long)
    with_system_item = second_turn_input(
        input=[{"role": "system", "content": long}, {"role": "user", "content": "hi"}]
    )
    assert with_instructions == plain
    assert with_system_item > plain + 500


def test_max_output_tokens_gives_an_incomplete_response(
    live_server: ServerThread, key: str
) -> None:
    client = _client(live_server, key)
    response = client.responses.create(
        model="haiku", input="Tell me a long story please", max_output_tokens=3
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 3


def test_a_failure_mid_stream_is_an_error_event(live_server: ServerThread, key: str) -> None:
    client = _client(live_server, key)
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(
            model="haiku", input="Break [[sim:no_result]]", stream=True
        ):
            seen.append(event.type)
    assert "response.output_text.delta" in seen
    assert "response.completed" not in seen
