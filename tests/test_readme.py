"""The README's commands work as a new user types them, from a fresh shell."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.client.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)


def commands(block: str) -> list[str]:
    """The block's commands, without comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


def test_the_first_screen_shows_exactly_two_commands_for_a_fresh_machine() -> None:
    first_screen = README.split("\n## ", 1)[0]  # everything above the first section
    assert first_screen.count("```bash") == 1  # one block of shell commands, no more
    assert commands(BASH_BLOCKS[0]) == ["make run", "make test"]


def test_the_activation_block_works_from_a_fresh_shell(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("no .venv in the checkout (make install creates it)")
    block = next(b for b in BASH_BLOCKS if "source .venv/bin/activate" in b)
    script = ["set -e"]
    with LiveServer(tmp_path) as server:
        for line in commands(block):
            if line.startswith("claude-code-api keys create"):
                line = f"KEY=$({line})"  # the user copies the printed key
            line = line.replace("<a key>", '"$KEY"').replace("http://127.0.0.1:8080", server.url)
            script.append(line)
        venv_bin = str(ROOT / ".venv" / "bin")
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CCAPI_", "VIRTUAL_ENV"))}
        env["PATH"] = path
        env["CCAPI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'e2e.db'}"  # the server's database
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "You said: Explain async/await" in result.stdout
