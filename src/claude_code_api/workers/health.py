"""``check_cli``: is the Claude CLI usable? (the ``cli`` check of ``/readyz``).

Checks, in order: the binary resolves (or the simulated CLI in demo mode), ``claude --version``
answers within a few seconds, and the CLI *probably* has credentials. The credential check is a
heuristic, because asking the CLI would cost a paid model call:

- ``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN`` or ``CLAUDE_CODE_OAUTH_TOKEN`` is set, or
- a cloud provider is selected (``CLAUDE_CODE_USE_BEDROCK`` / ``CLAUDE_CODE_USE_VERTEX``), or
- a subscription login left ``~/.claude/.credentials.json`` (Linux) behind.

With ``CCAPI_BARE`` only ``ANTHROPIC_API_KEY`` counts (``--bare`` ignores logins). On macOS the
login lives in the Keychain, which this cannot see: there a missing file is reported as a
warning in ``detail`` but not as "not ready".
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_code_api.config import Settings
from claude_code_api.errors import CLINotFoundError
from claude_code_api.workers.runner import cli_command, kill_group

VERSION_TIMEOUT = 5.0
_TOKEN_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
_PROVIDER_VARS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")


@dataclass(frozen=True, slots=True)
class CLIStatus:
    """Outcome of :func:`check_cli`."""

    ok: bool
    version: str = ""
    detail: str = ""


def credentials_hint(
    settings: Settings, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> tuple[bool, str]:
    """``(probably_logged_in, explanation)`` by the heuristic in the module docstring."""
    env = os.environ if environ is None else environ
    if env.get("ANTHROPIC_API_KEY"):
        return True, "ANTHROPIC_API_KEY set"
    if settings.bare:
        return False, "not logged in: CCAPI_BARE needs ANTHROPIC_API_KEY (--bare ignores logins)"
    for name in (*_TOKEN_VARS[1:], *_PROVIDER_VARS):
        if env.get(name):
            return True, f"{name} set"
    home = home or Path(env.get("HOME") or Path.home())
    if (home / ".claude" / ".credentials.json").is_file():
        return True, "subscription login found"
    if sys.platform == "darwin":  # pragma: no cover - Keychain logins are invisible to us
        return True, "no API key; a Keychain login cannot be verified"
    return False, ("not logged in: set ANTHROPIC_API_KEY or run `claude login` as the service user")


async def check_cli(settings: Settings) -> CLIStatus:
    """Whether the CLI can serve requests; never raises."""
    try:
        argv = cli_command(settings)
    except CLINotFoundError as exc:
        return CLIStatus(ok=False, detail=exc.message)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return CLIStatus(ok=False, detail=f"cannot start {argv[0]}: {exc.strerror}")
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), VERSION_TIMEOUT)
    except TimeoutError:
        kill_group(proc.pid)
        await proc.wait()
        return CLIStatus(ok=False, detail=f"`{argv[0]} --version` did not answer in time")
    version = out.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        return CLIStatus(ok=False, detail=f"`--version` exited with status {proc.returncode}")
    if settings.demo:
        return CLIStatus(ok=True, version=version, detail="demo mode: simulated CLI")
    logged_in, why = credentials_hint(settings)
    return CLIStatus(ok=logged_in, version=version, detail=why)
