"""A ``claude`` session file rebuilt from a conversation's earlier turns, for ``--resume``.

The CLI keeps a conversation as JSON lines in
``$CLAUDE_CONFIG_DIR/projects/<its working directory, sanitised>/<session id>.jsonl``
(``$CLAUDE_CONFIG_DIR`` defaults to ``$HOME/.claude``), and ``claude -p --resume <id>`` sends
those turns upstream again as real messages before the new prompt. The runner writes such a
file from :attr:`TaskRequest.history` into the directory of the task's private working
directory, resumes it with ``--no-session-persistence`` (the CLI then appends nothing) and
removes the directory afterwards. Nothing of a conversation outlives its request.

The minimum record the CLI 2.1.197 accepts, found on the real binary (DEVELOPERS.md)::

    {"type": "user", "uuid": U1, "parentUuid": null, "timestamp": T, "sessionId": S,
     "message": {"role": "user", "content": "first question"}}
    {"type": "assistant", "uuid": A1, "parentUuid": U1, "timestamp": T, "sessionId": S,
     "message": {"id": "msg_1", "type": "message", "role": "assistant",
                 "content": [{"type": "text", "text": "first answer"}]}}

- without ``timestamp`` the file is "No conversation found";
- the turns are the ``parentUuid`` chain back from the last record: a record off the chain is
  dropped silently;
- assistant records with the same ``message.id`` (or none) are merged into one message, so
  every assistant turn gets its own id;
- the history must end with an assistant turn (a user turn at the end gets a made-up
  "Continue from where you left off." / "No response requested." pair).

User content is written as blocks in the order the cold run of that turn sent it (``[text,
image, ...]``, as :func:`~claude_code_api.workers.runner.stdin_payload`); a string would go
upstream as a string where the previous request had a text block. So the upstream request of
a continuation starts with the same blocks as the previous turn's, and its cache breakpoint is
read back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_code_api.domain import Message
from claude_code_api.errors import CLIError
from claude_code_api.workers.tool_bridge import PREFIX

#: Any fixed time: the CLI requires the field but sends nothing of it upstream.
TIMESTAMP = "2026-01-01T00:00:00.000Z"
#: What the CLI 2.1.197 does to a working directory to name its sessions directory.
_UNSAFE = re.compile(r"[^A-Za-z0-9]")
#: Longer names are shortened by the CLI with a hash of its own: refused instead.
MAX_NAME = 200
#: Anthropic's pattern for tool_use ids; client-made ids outside it are replaced.
_TOOL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAMESPACE = uuid.UUID("8a0c2c8e-6a57-4f7c-9d1b-4a8f3f1f0c11")


def sessions_dir(env: Mapping[str, str], cwd: str | Path) -> Path:
    """Where the CLI started with ``env`` in ``cwd`` looks for its sessions.

    Raises:
        CLIError: the working directory's sanitised name is too long for this scheme.
    """
    config = env.get("CLAUDE_CONFIG_DIR") or str(Path(env.get("HOME") or Path.home()) / ".claude")
    name = _UNSAFE.sub("-", os.path.realpath(cwd))
    if len(name) > MAX_NAME:
        raise CLIError(f"The task directory {cwd!s} is too long to resume a CLI session in.")
    return Path(config) / "projects" / name


def tool_id(client_id: str) -> str:
    """The ``tool_use`` id sent upstream for a client's tool call id (kept when valid)."""
    if _TOOL_ID.fullmatch(client_id):
        return client_id
    return "toolu_" + hashlib.sha256(client_id.encode()).hexdigest()[:24]


def _user_content(message: Message) -> list[dict[str, Any]]:
    # Always blocks: a string would go upstream as a string, while the request that had this
    # message last sent it as a text block (the new prompt always is one).
    text = message.text("[image]")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    return blocks + [{"type": "image", "source": source} for source in message.images()]


def _assistant_content(message: Message) -> list[dict[str, Any]]:
    text = message.text()
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id(call.id),
                "name": PREFIX + call.name,
                "input": call.arguments,
            }
        )
    return blocks


def _result_block(message: Message) -> dict[str, Any]:
    # The content as the MCP bridge answers the CLI in a live run (one text block), so a
    # rebuilt turn has the same blocks as the request that carried it live.
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": tool_id(message.tool_call_id or ""),
        "content": [{"type": "text", "text": message.text()}],
    }
    if message.is_error:
        block["is_error"] = True
    return block


def _is_results(message: dict[str, Any]) -> bool:
    content = message["content"]
    return (
        message["role"] == "user"
        and isinstance(content, list)
        and all(b.get("type") == "tool_result" for b in content)
    )


def messages_of(history: Sequence[Message]) -> list[dict[str, Any]]:
    """The Messages API messages the history becomes (consecutive tool messages: one user
    message of ``tool_result`` blocks; empty messages left out)."""
    out: list[dict[str, Any]] = []
    for message in history:
        if message.role == "tool":
            if out and _is_results(out[-1]):  # the same round of results: one message
                out[-1]["content"].append(_result_block(message))
            else:
                out.append({"role": "user", "content": [_result_block(message)]})
        elif message.role == "assistant":
            if content := _assistant_content(message):
                out.append({"role": "assistant", "content": content})
        elif message.role == "user" and (content_u := _user_content(message)):
            out.append({"role": "user", "content": content_u})
    return out


def records(history: Sequence[Message], session_id: str) -> list[dict[str, Any]]:
    """The session file's records: one chained record per message."""
    out: list[dict[str, Any]] = []
    parent: str | None = None
    for index, message in enumerate(messages_of(history)):
        record_id = str(uuid.uuid5(_NAMESPACE, f"{session_id}:{index}"))
        if message["role"] == "assistant":
            message = {"id": f"msg_ccapi_{index:04d}", "type": "message", **message}
        out.append(
            {
                "type": message["role"],
                "uuid": record_id,
                "parentUuid": parent,
                "timestamp": TIMESTAMP,
                "sessionId": session_id,
                "isSidechain": False,
                "message": message,
            }
        )
        parent = record_id
    return out


def write_session(
    history: Sequence[Message], *, env: Mapping[str, str], cwd: str | Path
) -> tuple[str, Path]:
    """Write the session file the CLI started with ``env`` in ``cwd`` resumes: its id and
    directory.

    The directory is new (``cwd`` is the task's own) and private (0700); the caller removes
    it (``shutil.rmtree``) when the CLI is done.
    """
    session_id = str(uuid.uuid4())
    directory = sessions_dir(env, cwd)
    lines = [json.dumps(r) for r in records(history, session_id)]  # ASCII: any text survives
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(directory / f"{session_id}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
    except OSError as exc:
        raise CLIError(f"Cannot write the CLI session file: {exc.strerror}") from exc
    return session_id, directory
