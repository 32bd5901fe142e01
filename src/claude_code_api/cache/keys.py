"""Every Redis key name and the response-cache digest, in one place.

All keys start with one prefix (``settings.redis_prefix``) so a deployment (or a test) owns a
disjoint key space, and every key written by this package carries a TTL.

Key map (``P`` is the prefix; ``{x}`` is :func:`encode_component` of ``x``)::

    P:gen:<family>                      generation counter of a whole family (invalidate all)
    P:gen:<family>:{scope}              generation counter of one scope (invalidate a project)
    P:kv:<family>:<g_all>:{scope}:<g_scope>:{key}   one cached value
    P:q:{queue}                         the work-queue stream (consumer group "workers")
    P:task:{task_id}:events             per-task result stream (deltas, final result or error)
    P:task:{task_id}:cancel             "the owner gave up on this task" marker
    P:workers:{queue stream}            live consumers of a queue, scored by heartbeat expiry
    P:direct:{consumer}                 one consumer's own queue (tool follow-ups routed to it)
    P:toolrun:{project}:{call_id}       consumer holding the run suspended on that tool call

Components that come from outside (project ids, session ids, task ids) are never joined with a
bare separator: project ``acme`` with session ``fin:s1`` and project ``acme:fin`` with session
``s1`` must not share a key. :func:`encode_component` length-prefixes each one, so the key
parses back unambiguously whatever characters the component holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

#: Scope of response-cache entries shared by every project (a request opted in to sharing).
SHARED_SCOPE = "*shared*"


def encode_component(value: str) -> str:
    """``<UTF-8 byte length>#<value>``: a key component that cannot run into its neighbours.

    >>> encode_component("acme:fin")
    '8#acme:fin'
    """
    return f"{len(value.encode('utf-8', 'surrogatepass'))}#{value}"


class RedisKeys:
    """Builds key names under one prefix. No I/O; cheap to create."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip(":")

    def family_generation(self, family: str) -> str:
        """Counter bumped to invalidate every entry of ``family``."""
        return f"{self.prefix}:gen:{family}"

    def scope_generation(self, family: str, scope: str) -> str:
        """Counter bumped to invalidate every entry of one scope (a project) in ``family``."""
        return f"{self.prefix}:gen:{family}:{encode_component(scope)}"

    def value_prefix(self, family: str) -> str:
        """Common start of every value key of ``family`` (the Lua scripts append the rest,
        from the encoded scope and key: :func:`encode_component`)."""
        return f"{self.prefix}:kv:{family}:"

    def queue(self, name: str) -> str:
        """The work-queue stream called ``name``."""
        return f"{self.prefix}:q:{encode_component(name)}"

    def task_events(self, task_id: str) -> str:
        """Per-task stream of events the owning API replica reads."""
        return f"{self.prefix}:task:{encode_component(task_id)}:events"

    def task_cancel(self, task_id: str) -> str:
        """Marker set when the owner no longer wants the task's result."""
        return f"{self.prefix}:task:{encode_component(task_id)}:cancel"

    def direct_queue(self, consumer: str) -> str:
        """The stream of tasks sent to one consumer only (follow-ups of its suspended runs)."""
        return f"{self.prefix}:direct:{encode_component(consumer)}"

    def tool_run_holder(self, project_id: str, tool_call_id: str) -> str:
        """Name of the consumer whose suspended run waits for ``tool_call_id`` of a project."""
        return (
            f"{self.prefix}:toolrun:{encode_component(project_id)}:{encode_component(tool_call_id)}"
        )

    def workers(self, stream: str) -> str:
        """Sorted set of the live consumers of the queue stream ``stream``."""
        return f"{self.prefix}:workers:{encode_component(stream)}"


def response_digest(
    *,
    model: str,
    system_prompt: str | None,
    messages: Sequence[Any],
    max_tokens: int | None,
    mode: str,
    temperature: float | None,
) -> str:
    """sha256 over a canonical JSON of everything that changes an answer.

    Canonical means sorted keys and no whitespace, so equal requests give equal digests no
    matter how the caller built its dicts. The project is not part of the digest: it is the
    key's *scope*, which is what makes per-project invalidation O(1).
    """
    payload = {
        "model": model,
        "system_prompt": system_prompt,
        "messages": messages,
        "max_tokens": max_tokens,
        "mode": mode,
        "temperature": temperature,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
