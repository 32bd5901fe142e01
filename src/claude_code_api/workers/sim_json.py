"""JSON answers of the simulated CLI, for requests with ``response_format`` (standard library only).

The service turns ``response_format`` into a system-prompt instruction
(:func:`claude_code_api.application.output_format.format_instruction`); the simulated CLI
reads it back from its system prompt and answers as a model following it would:

* ``json_object``: ``{"reply": "<the usual deterministic answer>"}``;
* ``json_schema``: an instance valid against the schema, built by :func:`instance`.

:func:`instance` covers what OpenAI's structured outputs and pydantic models produce:
objects (every property; past a few levels only the required ones, so recursive schemas end),
``string``/``integer``/``number``/``boolean``/``null``, arrays (``minItems``), ``enum``,
``const``, ``anyOf``/``oneOf`` (the first branch), ``allOf``, type lists, local ``$ref``
(``#/$defs/...``), string formats (date, date-time, email, uri, uuid), length and numeric
bounds. ``pattern`` is not honoured (a regex cannot be inverted simply): such a schema gets a
plain string.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: How the service's instructions start (kept in step with ``api/output_format.py``; the
#: simulated CLI imports nothing from the server side).
_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else"
_SCHEMA_LINE = re.compile(r"^JSON Schema: (?P<schema>\{.*\})\s*$", re.MULTILINE)

_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "url": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
#: Below this depth only what the schema requires is produced (no optional property, the null
#: branch of an ``anyOf``, ``minItems`` items), so a recursive ``$ref`` (a tree) ends.
_SHALLOW = 4


def requested_format(system_prompt: str) -> tuple[str, dict[str, Any] | None] | None:
    """``("json_schema", schema)``, ``("json_object", None)`` or ``None`` (plain text)."""
    schemas = _SCHEMA_LINE.findall(system_prompt)
    if schemas:
        try:
            schema = json.loads(schemas[-1])
        except ValueError:
            schema = {}
        return "json_schema", schema if isinstance(schema, dict) else {}
    if _OBJECT_INSTRUCTION in system_prompt:
        return "json_object", None
    return None


def json_answer(kind: str, schema: dict[str, Any] | None, reply: str) -> str:
    """The answer text for ``kind`` (``reply``: the plain-text answer, used for strings)."""
    if kind == "json_schema":
        return json.dumps(instance(schema or {}, text=reply), ensure_ascii=False)
    return json.dumps({"reply": reply}, ensure_ascii=False)


def instance(schema: Any, *, text: str = "sim", root: Any = None, depth: int = 0) -> Any:
    """A value valid against ``schema`` (see the module docstring for what is covered)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return {}
    deep = depth >= _SHALLOW

    def sub(s: Any) -> Any:
        return instance(s, text=text, root=root, depth=depth + 1)

    if "$ref" in schema:
        return sub(_resolve(root, str(schema["$ref"])))
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if branches := schema.get(key):
            nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
            return sub(nulls[0] if deep and nulls else branches[0])
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(root, part["$ref"]) if "$ref" in part else part
            for name, value in part.items():
                if name in ("properties", "required") and name in merged:
                    merged[name] = (
                        {**merged[name], **value} if name == "properties" else merged[name] + value
                    )
                else:
                    merged[name] = value
        return sub(merged)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return _typed(kind, schema, text, sub, deep=deep)


def _typed(kind: str, schema: dict[str, Any], text: str, sub: Any, *, deep: bool) -> Any:
    if kind == "object":
        required = set(schema.get("required") or ())
        properties = (schema.get("properties") or {}).items()
        return {name: sub(prop) for name, prop in properties if not deep or name in required}
    if kind == "array":
        count = int(schema.get("minItems", 0)) if deep else max(1, int(schema.get("minItems", 0)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [sub(item) for item in prefix]
        return [sub(schema.get("items", {})) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, text)


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        low = schema["exclusiveMinimum"] + (1 if integer else 0.5)
    if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
        high = schema["exclusiveMaximum"] - (1 if integer else 0.5)
    value: float = 1 if low is None else low
    if high is not None and value > high:
        value = high
    if integer:
        return int(value) if float(value).is_integer() else int(value) + 1
    return value


def _string(schema: dict[str, Any], text: str) -> str:
    value = _FORMATS.get(str(schema.get("format", "")), text)
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(value) < low:
        value = value + "x" * (low - len(value))
    if high is not None:
        value = value[: int(high)]
    return value


def _resolve(root: Any, ref: str) -> Any:
    """A local ``#/...`` reference inside ``root`` (anything else resolves to ``{}``)."""
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node
