"""docs/CLIENT.md's quick start runs with the demo key, and from a client-only install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]


def quick_start(server: LiveServer, key: str) -> str:
    """The quick start's Python block, pointed at ``server`` with ``key``."""
    doc = (ROOT / "docs" / "CLIENT.md").read_text()
    section = doc.split("## Quick start", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code, "no python block in the quick start"
    source = code.group(1)
    assert 'api_key="ccapi_..."' in source and "http://localhost:8080" in source
    return source.replace("http://localhost:8080", server.url).replace("ccapi_...", key)


def run_python(python: str, source: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")}
    result = subprocess.run(
        [python, "-c", source], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_quick_start_runs_with_the_demo_key(server: LiveServer) -> None:
    out = run_python(sys.executable, quick_start(server, server.create_key("demo")))
    assert "You said: Explain async/await" in out
    assert "Tokens:" in out


def test_the_client_installs_and_runs_on_its_own(server: LiveServer, tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=300,
    )
    venv = tmp_path / "client-only"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    target = [*pip, "--python", python, "install"]
    (wheel,) = wheels.glob("claude_code_api-*.whl")
    subprocess.run([*target, "--no-deps", str(wheel)], check=True, timeout=300)
    installed = subprocess.run([*target, "httpx>=0.27"], timeout=300)
    if installed.returncode != 0:  # pragma: no cover - no package index reachable
        pytest.skip("httpx could not be installed from the package index")
    server_side = ["fastapi", "sqlalchemy", "redis", "uvicorn", "pydantic"]
    probe = f"import importlib.util as u; print([m for m in {server_side!r} if u.find_spec(m)])"
    assert run_python(python, probe).strip() == "[]"  # really nothing of the server
    out = run_python(python, quick_start(server, server.create_key("demo")))
    assert "You said: Explain async/await" in out
