"""Client tools in the pipeline: the checks both surfaces share, and the cache-key part.

The tools themselves run on the client. The service offers them to the model through the CLI's
MCP tool use (:mod:`claude_code_api.workers.tool_bridge`); a turn that ends in tool calls keeps
its CLI process waiting for the results (:mod:`claude_code_api.workers.suspended`).
"""

from __future__ import annotations

import json

from claude_code_api.domain import CompletionResult, TaskRequest, ToolSpec
from claude_code_api.errors import CLIOutputError, InvalidRequestError


class ToolArgumentsError(CLIOutputError):
    """The model's arguments for a ``strict`` tool fail its schema (or are not JSON)."""

    code = "invalid_tool_arguments"


def check_tool_choice(tools: list[ToolSpec], choice: str, mode: str) -> None:
    """400 for a ``tool_choice`` naming an absent tool, or asking for tools without any."""
    if tools and mode != "chat":
        raise InvalidRequestError(
            "Client tools are available in chat mode only.", param="tools", code="invalid_tools"
        )
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise InvalidRequestError("Tool names must be unique.", param="tools", code="invalid_tools")
    if choice in ("auto", "none"):
        return
    if choice == "required":
        if not tools:
            raise InvalidRequestError(
                "tool_choice 'required' needs at least one tool in 'tools'.",
                param="tool_choice",
                code="invalid_tool_choice",
            )
        return
    if choice not in names:
        raise InvalidRequestError(
            f"tool_choice names the tool {choice[:64]!r}, which is not in 'tools'.",
            param="tool_choice",
            code="invalid_tool_choice",
        )


def tools_digest(task: TaskRequest) -> str:
    """The tools, tool_choice and parallel_tool_calls as one canonical string (cache key)."""
    return json.dumps(
        [[t.to_dict() for t in task.tools], task.tool_choice, task.parallel_tool_calls],
        sort_keys=True,
        separators=(",", ":"),
    )


def check_tool_calls(result: CompletionResult) -> None:
    """Report the model's bad arguments instead of passing them on silently.

    Raises:
        ToolArgumentsError: (502) a call's arguments were not a JSON object or failed a
            ``strict`` tool's schema; the run was not kept waiting.
    """
    for call in result.tool_calls:
        if call.error:
            raise ToolArgumentsError(
                f"The model called the tool {call.name!r} (call {call.id}) with arguments that "
                f"do not fit: {call.error}. Nothing was run; retry the request."
            )
