"""A planner agent that delegates to worker agents with tools over a local folder.

Every agent is a plain tool loop on the official ``openai`` SDK pointed at this service: the
model calls tools, this script runs them locally (the service never runs a tool), sends the
results back as ``role: "tool"`` messages, and repeats until the model answers in text.

- The **planner** has one tool, ``delegate(task)``: each call starts a worker agent on that
  task. Several delegations in one turn (parallel tool calls) run concurrently in threads.
- A **worker** has ``search(pattern)`` (lines matching a regular expression, as
  ``path:line: text``) and ``read(path)`` over the folder, and nothing else; paths outside the
  folder are refused.

    export CCAPI_BASE_URL=http://localhost:8080 CCAPI_API_KEY=<your key>
    python examples/multi_agent/agents.py ./docs "Which settings control tool calls?"

(``claude-code-api serve --demo`` prints a key and runs on the simulated CLI, whose tool calls
are asked for with ``[[call:NAME {json}]]`` markers in the prompt; see docs/SIMULATED_CLI.md.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from openai import OpenAI

Tool = tuple[dict[str, Any], Callable[..., str]]  # (OpenAI tool definition, implementation)

PLANNER_PROMPT = (
    "You are a planner. Split the question into independent research tasks and hand each to "
    "a worker with the delegate tool (several at once when they are independent). Then answer "
    "the question from the workers' reports."
)
WORKER_PROMPT = (
    "You are a research worker with read-only access to a folder of files. Use search to find "
    "relevant lines and read to read a file, then report what you found, citing file names."
)


def function(name: str, description: str, **properties: str) -> dict[str, Any]:
    """An OpenAI function tool whose parameters are all required strings."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {
                    k: {"type": "string", "description": v} for k, v in properties.items()
                },
                "required": list(properties),
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def folder_tools(root: Path, max_hits: int = 50) -> dict[str, Tool]:
    """``search`` and ``read`` confined to ``root``."""
    root = root.resolve()

    def search(pattern: str) -> str:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            return f"invalid pattern: {exc}"
        hits = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(lines, start=1):
                if regex.search(line):
                    hits.append(f"{path.relative_to(root)}:{number}: {line.strip()[:200]}")
        return "\n".join(hits[:max_hits]) or "no matches"

    def read(path: str) -> str:
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return f"not a file in the folder: {path}"
        return target.read_text(encoding="utf-8", errors="replace")[:20_000]

    return {
        "search": (function("search", "Find lines matching a regex.", pattern="regex"), search),
        "read": (function("read", "Read a file of the folder.", path="relative path"), read),
    }


def run_agent(
    client: OpenAI, model: str, system: str, task: str, tools: dict[str, Tool], max_steps: int = 8
) -> str:
    """One agent's tool loop; returns its final text."""
    messages: list[Any] = [{"role": "system", "content": system}, {"role": "user", "content": task}]
    definitions = [definition for definition, _ in tools.values()]
    for _ in range(max_steps):
        reply = client.chat.completions.create(model=model, messages=messages, tools=definitions)
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        calls = [c for c in message.tool_calls if c.type == "function"]
        with ThreadPoolExecutor(max_workers=max(1, len(calls))) as threads:
            outputs = list(threads.map(lambda c: _call(tools, c.function), calls))
        for call, output in zip(calls, outputs, strict=True):
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    return "(stopped: too many steps)"


def _call(tools: dict[str, Tool], function_call: Any) -> str:
    tool = tools.get(function_call.name)
    if tool is None:
        return f"unknown tool {function_call.name}"
    try:
        return tool[1](**json.loads(function_call.arguments))
    except (TypeError, ValueError) as exc:
        return f"bad arguments: {exc}"


def plan(client: OpenAI, model: str, folder: Path, question: str) -> str:
    """The planner's answer, built from its workers' reports."""
    workers = folder_tools(folder)

    def delegate(task: str) -> str:
        return run_agent(client, model, WORKER_PROMPT, task, workers)

    planner: dict[str, Tool] = {
        "delegate": (
            function("delegate", "Give a research task to a worker.", task="task"),
            delegate,
        )
    }
    return run_agent(client, model, PLANNER_PROMPT, question, planner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("question")
    parser.add_argument("--model", default="haiku")
    args = parser.parse_args()
    base_url = os.environ.get("CCAPI_BASE_URL", "http://localhost:8080").rstrip("/")
    client = OpenAI(base_url=f"{base_url}/v1", api_key=os.environ["CCAPI_API_KEY"], timeout=120)
    print(plan(client, args.model, args.folder, args.question))


if __name__ == "__main__":
    main()
