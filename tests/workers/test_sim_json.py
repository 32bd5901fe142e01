"""The simulated CLI answers ``response_format`` requests with JSON valid against the schema."""

from __future__ import annotations

import enum
import json
import subprocess
from typing import Any, Literal

import jsonschema_rs
import pytest
from pydantic import BaseModel, Field

from claude_code_api.application.output_format import format_instruction
from claude_code_api.workers.sim_json import instance, requested_format


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    zip_code: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=130)
    score: float = Field(gt=0, lt=1)
    colour: Colour
    role: Literal["admin", "user"]
    tags: list[str] = Field(min_length=2)
    home: Address
    previous: list[Address]
    nickname: str | None
    email: str = Field(json_schema_extra={"format": "email"})
    active: bool


SCHEMAS: list[dict[str, Any]] = [
    Person.model_json_schema(),
    {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 3}}},
    {"type": "array", "items": {"type": "number", "maximum": -2}, "minItems": 3, "maxItems": 3},
    {"type": ["null", "string"], "format": "date-time"},
    {"allOf": [{"properties": {"a": {"const": 1}}}, {"properties": {"b": {"enum": ["x"]}}}]},
    {
        "type": "object",
        "properties": {"value": {"type": "integer"}, "children": {"$ref": "#"}},
        "required": ["value"],
        "additionalProperties": False,
    },
    {  # OpenAI strict style: every property required, recursion through $defs
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
                "required": ["label", "kids", "parent"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/Node",
    },
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: str(s.get("title", s.get("type"))))
def test_instances_are_valid_against_their_schema(schema: dict[str, Any]) -> None:
    value = instance(schema, text="hello")
    assert jsonschema_rs.validator_for(schema).is_valid(value), value


def test_a_pydantic_model_parses_the_instance() -> None:
    person = Person.model_validate(instance(Person.model_json_schema(), text="Ada"))
    assert person.name == "Ada" and len(person.tags) == 2 and len(person.home.zip_code) == 5


def test_the_service_instructions_are_recognised() -> None:
    schema = Person.model_json_schema()
    system = "You are helpful.\n\n" + str(format_instruction("json_schema", schema))
    assert requested_format(system) == ("json_schema", json.loads(json.dumps(schema)))
    assert requested_format(str(format_instruction("json_object"))) == ("json_object", None)
    assert requested_format("Answer in JSON if you like.") is None


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
def test_the_simulated_cli_answers_json(sim_cli: str, kind: str) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    system = str(format_instruction(kind, schema))
    out = subprocess.run(
        [sim_cli, "-p", "--output-format", "json", "--system-prompt", system],
        input=b"give me json",
        capture_output=True,
        check=True,
    )
    answer = json.loads(json.loads(out.stdout)["result"])
    if kind == "json_object":
        assert "You said: give me json" in answer["reply"]
    else:
        assert answer == {"x": 1}
