"""``response_format`` in demo mode: the openai SDK and LangChain get JSON they can parse."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel, Field

from tests.api.conftest import ServerThread, admin_create_key_sync


class Ticket(BaseModel):
    title: str
    priority: int = Field(ge=1, le=5)
    labels: list[str]
    severity: str = Field(json_schema_extra={"enum": ["low", "high"]})


@pytest.fixture
def client(live_server: ServerThread) -> Iterator[openai.OpenAI]:
    key = admin_create_key_sync(live_server.url, "json-mode")
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0) as sdk:
        yield sdk


def test_json_object_answers_a_json_object(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="haiku",
        messages=[{"role": "user", "content": "Describe a cat as JSON"}],
        response_format={"type": "json_object"},
    )
    answer = json.loads(completion.choices[0].message.content or "")
    assert isinstance(answer, dict) and "Describe a cat as JSON" in answer["reply"]


def test_json_schema_answers_match_the_schema(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="haiku",
        messages=[{"role": "user", "content": "File a ticket: the login page is down"}],
        response_format=Ticket,
    )
    ticket = completion.choices[0].message.parsed
    assert isinstance(ticket, Ticket)
    assert 1 <= ticket.priority <= 5 and ticket.severity in ("low", "high") and ticket.labels
    assert "File a ticket" in ticket.title  # the simulated answer still echoes the prompt


def test_a_streamed_json_schema_answer_parses(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "A ticket, streamed"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "ticket", "schema": Ticket.model_json_schema()},
        },
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert Ticket.model_validate_json(text).labels


def test_langchain_with_structured_output(live_server: ServerThread) -> None:
    from langchain_openai import ChatOpenAI

    key = admin_create_key_sync(live_server.url, "langchain")
    with httpx.Client() as http:  # not langchain_openai's process-wide cached client
        llm = ChatOpenAI(
            base_url=f"{live_server.url}/v1",
            api_key=key,
            model="haiku",
            max_retries=0,
            http_client=http,
        )
        ticket = llm.with_structured_output(Ticket).invoke("File a ticket: printer on fire")
    assert isinstance(ticket, Ticket) and "printer on fire" in ticket.title
