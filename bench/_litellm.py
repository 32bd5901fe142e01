"""LiteLLM's proxy as a comparison point for bench/api.py's wrk cache-hit run (issue #16).

LiteLLM is never a dependency of this project: it lives in its own venv
(``~/.cache/claude-code-api/litellm-venv`` by default, ``CCAPI_LITELLM_VENV`` to move it),
created with ``python3 -m venv`` and ``pip install 'litellm[proxy]==LITELLM_VERSION'`` on
first use. The proxy runs with a config written at run time: one model that needs no upstream
(``mock_response``), LiteLLM's in-memory response cache (``cache_params: {type: local}``), a
master key, one worker, quiet logging. ``start`` checks that a repeated request is a cache hit
(the proxy sets ``x-litellm-cache-key`` only on responses served from its cache) before the
caller measures anything. Anything that goes wrong raises ``LiteLLMUnavailableError`` with the
reason, so the benchmark can report it and go on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from _loadgen import free_port

LITELLM_VERSION = "1.108.7"  # pinned: the version the first run installed (reproducible)
VENV = Path(
    os.environ.get("CCAPI_LITELLM_VENV", "~/.cache/claude-code-api/litellm-venv")
).expanduser()
MASTER_KEY = "sk-bench-litellm-master"
MODEL = "bench-model"
HOST = "127.0.0.1"
CACHE_HEADER = "x-litellm-cache-key"

CONFIG = f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_key: sk-unused
      mock_response: "This is a mocked reply."
litellm_settings:
  cache: true
  cache_params:
    type: local
  set_verbose: false
general_settings:
  master_key: {MASTER_KEY}
"""


class LiteLLMUnavailableError(Exception):
    """LiteLLM's proxy could not be started or verified; the message says why."""


class LiteLLMNotInstalledError(LiteLLMUnavailableError):
    """LiteLLM could not be installed into its venv; the message says why."""


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else None


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def ensure_installed() -> str:
    """Create the venv and install the pinned ``litellm[proxy]`` if needed; its version."""
    python = VENV / "bin" / "python"
    if _installed_version(python) == LITELLM_VERSION:
        return LITELLM_VERSION
    base = shutil.which("python3")
    if base is None:
        raise LiteLLMNotInstalledError("no python3 on PATH to create its venv")
    steps = [
        ("python3 -m venv", [base, "-m", "venv", str(VENV)]),
        ("pip install", [str(python), "-m", "pip", "install", "--quiet",
                         f"litellm[proxy]=={LITELLM_VERSION}"]),
    ]  # fmt: skip
    if python.exists():
        steps = steps[1:]
    print(f"litellm: installing litellm[proxy]=={LITELLM_VERSION} into {VENV}", flush=True)
    for label, step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LiteLLMNotInstalledError(f"{label} failed: {exc}") from exc
        if done.returncode != 0:
            raise LiteLLMNotInstalledError(f"{label} failed: {_tail(done.stderr)}")
    version = _installed_version(python)
    if version != LITELLM_VERSION:
        raise LiteLLMNotInstalledError(f"installed litellm is {version}, wanted {LITELLM_VERSION}")
    return version


@dataclass
class LiteLLMProxy:
    """A running LiteLLM proxy (its own process group), answering ``MODEL`` from its cache."""

    proc: subprocess.Popen[bytes]
    url: str
    version: str
    log: Path

    @property
    def pid(self) -> int:
        """The proxy's process id (one worker: it serves the requests itself)."""
        return self.proc.pid

    def stop(self) -> None:
        """Terminate the proxy and anything it started (its whole process group)."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _wait_ready(proxy: LiteLLMProxy, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            raise LiteLLMUnavailableError(
                f"proxy exited with {proxy.proc.returncode}: {_tail(proxy.log.read_text())}"
            )
        try:
            if httpx.get(f"{proxy.url}/health/liveliness", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise LiteLLMUnavailableError(f"proxy not ready after {timeout:.0f} s")


def verify_cache_hit(url: str, body: dict[str, object]) -> str:
    """POST ``body`` twice; the second must come from LiteLLM's cache. Returns its cache key.

    LiteLLM sets ``x-litellm-cache-key`` only on a response served from its cache, and that
    response repeats the first one's ``id``.
    """
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    first = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    second = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    if first.status_code != 200 or second.status_code != 200:
        raise LiteLLMUnavailableError(
            f"chat completions answered {first.status_code}/{second.status_code}: "
            f"{second.text[:200]}"
        )
    key = second.headers.get(CACHE_HEADER)
    if not key or CACHE_HEADER in first.headers or first.json()["id"] != second.json()["id"]:
        raise LiteLLMUnavailableError("a repeated request was not a cache hit")
    return key


def start(workdir: Path, body: dict[str, object]) -> LiteLLMProxy:
    """Install if needed, start the proxy on a free port and check ``body`` hits its cache."""
    version = ensure_installed()
    config = workdir / "litellm.yaml"
    config.write_text(CONFIG)
    log = workdir / "litellm.log"
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start
    }
    env.pop("VIRTUAL_ENV", None)
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(VENV / "bin" / "litellm"), "--config", str(config), "--host", HOST,
                 "--port", str(port), "--num_workers", "1"],
                env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )  # fmt: skip
    except OSError as exc:
        raise LiteLLMUnavailableError(f"could not start the proxy: {exc}") from exc
    proxy = LiteLLMProxy(proc, f"http://{HOST}:{port}", version, log)
    try:
        _wait_ready(proxy)
        verify_cache_hit(proxy.url, body)
    except BaseException:
        proxy.stop()
        raise
    return proxy
