"""The official ``anthropic`` SDK, unchanged, against ``/v1/messages`` on the simulated CLI."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.api.conftest import PNG_1X1, ServerThread, admin_create_key_sync


@pytest.fixture
def client(live_server: ServerThread) -> Iterator[anthropic.Anthropic]:
    key = admin_create_key_sync(live_server.url, "anthropic-app")
    with anthropic.Anthropic(base_url=live_server.url, api_key=key, max_retries=0) as sdk:
        yield sdk


def test_messages_create(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello from the anthropic SDK"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    text = message.content[0].text  # type: ignore[union-attr]
    assert "You said: Hello from the anthropic SDK" in text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert "haiku" in message.model


def test_messages_with_model_auto_carry_the_routing_decision(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=200, messages=[{"role": "user", "content": "hi"}]
    )
    message = raw.parse()
    routing = (message.model_extra or {})["routing"]  # an extension field the SDK keeps
    assert routing["model"] in message.model and routing["rule"] == "learned"
    assert 0 < routing["probability"] < 1
    assert set(routing["estimated_cost"]) == {"haiku", "sonnet", "opus"}
    assert raw.headers["x-ccapi-routed"] == routing["model"]
    assert float(raw.headers["x-ccapi-routed-probability"]) == routing["probability"]


def test_messages_stream_and_stop_sequences(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Tell me something"}]}]
    plain = client.messages.create(model="haiku", max_tokens=200, messages=messages)  # type: ignore[arg-type]
    full = plain.content[0].text  # type: ignore[union-attr]
    with client.messages.stream(
        model="haiku",
        max_tokens=200,
        messages=messages,  # type: ignore[arg-type]
        extra_body={"cache": False},
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == full
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    cut = client.messages.create(
        model="haiku",
        max_tokens=200,
        messages=messages,  # type: ignore[arg-type]
        stop_sequences=["a deterministic"],
    )
    assert cut.content[0].text == full[: full.index("a deterministic")]  # type: ignore[union-attr]
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", "a deterministic")
    with client.messages.stream(
        model="haiku",
        max_tokens=200,
        messages=messages,  # type: ignore[arg-type]
        stop_sequences=["a deterministic"],
        extra_body={"cache": False},
    ) as stream:
        assert "".join(stream.text_stream) == full[: full.index("a deterministic")]
        assert stream.get_final_message().stop_reason == "stop_sequence"


def test_messages_with_an_image_and_count_tokens(client: anthropic.Anthropic) -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1},
    }
    content = [{"type": "text", "text": "What is this?"}, image]
    message = client.messages.create(
        model="haiku",
        max_tokens=100,
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item]
    )
    assert "[image image/png 70 bytes]" in message.content[0].text  # type: ignore[union-attr]
    with_image = client.messages.count_tokens(
        model="haiku",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item]
    )
    without = client.messages.count_tokens(
        model="haiku", messages=[{"role": "user", "content": "What is this?"}]
    )
    # An image is budgeted at 1,600 tokens (plus its "[image]" marker in the text).
    assert 1_600 < with_image.input_tokens - without.input_tokens < 1_610


def test_messages_errors_use_anthropic_types(
    live_server: ServerThread, client: anthropic.Anthropic
) -> None:
    bad_key = anthropic.Anthropic(base_url=live_server.url, api_key="nope", max_retries=0)
    with bad_key, pytest.raises(anthropic.AuthenticationError):
        bad_key.messages.create(
            model="haiku", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    # max_tokens is required, as on Anthropic's API.
    raw = httpx.post(
        f"{live_server.url}/v1/messages",
        json={"model": "haiku", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": client.api_key},
    )
    assert raw.status_code == 400
    assert raw.json()["type"] == "error"
    assert raw.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in raw.json()["error"]["message"]


def test_a_failure_mid_stream_is_an_error_event(
    live_server: ServerThread, client: anthropic.Anthropic
) -> None:
    body = {
        "model": "haiku",
        "max_tokens": 100,
        "stream": True,
        "cache": False,
        "messages": [{"role": "user", "content": "[[sim:no_result]] answer, then vanish"}],
    }
    with httpx.stream(
        "POST", f"{live_server.url}/v1/messages", json=body, headers={"x-api-key": client.api_key}
    ) as response:
        assert response.status_code == 200
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert events[0] == "message_start" and "content_block_delta" in events
    assert events[-1] == "error" and "message_stop" not in events
    with (
        pytest.raises(anthropic.APIError),
        client.messages.stream(
            model="haiku",
            max_tokens=100,
            messages=[{"role": "user", "content": "[[sim:no_result]] once more"}],
            extra_body={"cache": False},
        ) as stream,
    ):
        "".join(stream.text_stream)
