"""Pytest fixtures for the fakes: import them into a conftest (``from tests.fakes.fixtures
import *``) to get the fake upstream and the real ``claude`` binary.

``claude_bin`` installs ``@anthropic-ai/claude-code`` (the version the Dockerfile pins) from npm
once into ``~/.cache/claude-code-api/npm`` (override with ``CCAPI_TEST_NPM_CACHE``, or point
``CCAPI_TEST_CLAUDE_BIN`` at an existing binary) and reuses it. A failed install fails the test:
the real-binary tests never skip.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeAnthropic

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

NPM_PACKAGE = "@anthropic-ai/claude-code"
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def pinned_version() -> str:
    """The CLI version the tests install: the one the image pins (``ARG CLAUDE_CODE_VERSION``),
    so the facts verified on it hold here too; ``CCAPI_TEST_CLAUDE_VERSION`` overrides it."""
    override = os.environ.get("CCAPI_TEST_CLAUDE_VERSION")
    if override:
        return override
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("ARG CLAUDE_CODE_VERSION="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"no ARG CLAUDE_CODE_VERSION in {DOCKERFILE}")


def install_claude(cache_dir: Path | None = None) -> Path:
    """Install (once, under a file lock) and return the real ``claude`` binary's path."""
    override = os.environ.get("CCAPI_TEST_CLAUDE_BIN")
    if override:
        return Path(override)
    root = cache_dir or Path(
        os.environ.get("CCAPI_TEST_NPM_CACHE", Path.home() / ".cache" / "claude-code-api" / "npm")
    )
    root.mkdir(parents=True, exist_ok=True)
    binary = root / "node_modules" / ".bin" / "claude"
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            package = f"{NPM_PACKAGE}@{pinned_version()}"
            done = subprocess.run(
                ["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", package],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0 or not binary.exists():
                raise RuntimeError(f"npm install {NPM_PACKAGE} failed: {done.stderr[-2000:]}")
    return binary


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Path of the real ``claude`` binary (installed from npm on first use)."""
    try:
        return str(install_claude())
    except Exception as exc:
        pytest.fail(f"cannot install the real Claude CLI: {exc}")


@pytest.fixture
def fake_upstream() -> Iterator[FakeAnthropic]:
    """A running fake Anthropic Messages API on 127.0.0.1."""
    with FakeAnthropic() as upstream:
        yield upstream


@pytest.fixture
def real_cli_env(
    fake_upstream: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point any CLI this process starts at the fake upstream (fake key, temp HOME).

    The variables are set in ``os.environ`` (so a service built in-process passes them on
    through its allow-list) and returned.
    """
    home = tmp_path / "home"
    home.mkdir()
    env = fake_upstream.cli_env(home, CLAUDE_CODE_MAX_RETRIES="0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CLAUDECODE", raising=False)
    return env
