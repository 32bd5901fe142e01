"""``serve`` for a new user: one demo key reused across starts, bound first, real port shown."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from claude_code_api.demo import DEMO_PROJECT, ensure_demo_key, secret_path
from claude_code_api.storage import Database, KeyStore
from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "claude-code-api"
KEY_LINE = re.compile(r"API key for project 'demo': (ccapi_\S+)\n  \((.*)\)")


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[KeyStore]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'k.db'}")
    await db.migrate()
    store = KeyStore(db, cache_ttl=0)
    yield store
    await store.close()
    await db.dispose()


async def _active_demo_keys(keys: KeyStore) -> list[str]:
    return [k.key_id for k in await keys.list(DEMO_PROJECT) if not k.revoked]


async def test_five_starts_reuse_one_demo_key(keys: KeyStore, tmp_path: Path) -> None:
    path = tmp_path / "k.db.demo-key"
    answers = [await ensure_demo_key(keys, path) for _ in range(5)]
    assert [minted for _, minted in answers] == [True, False, False, False, False]
    assert len({secret for secret, _ in answers}) == 1
    assert len(await _active_demo_keys(keys)) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == answers[0][0]
    assert await keys.authenticate(answers[0][0]) is not None


async def test_a_revoked_demo_key_is_replaced_and_lost_minted_keys_revoked(
    keys: KeyStore, tmp_path: Path
) -> None:
    # Keys earlier versions minted on every start (their secrets are lost), and a user's own.
    for _ in range(3):
        await keys.create(DEMO_PROJECT, name="demo (created at startup)")
    mine, my_secret = await keys.create(DEMO_PROJECT, name="mine")
    path = tmp_path / "k.db.demo-key"
    first, minted = await ensure_demo_key(keys, path)
    assert minted
    assert sorted(await _active_demo_keys(keys)) == sorted(
        [mine.key_id, (await keys.authenticate(first)).key_id]  # type: ignore[union-attr]
    )
    revoked = await keys.authenticate(first)
    assert revoked is not None
    await keys.revoke(revoked.key_id)
    second, minted = await ensure_demo_key(keys, path)
    assert minted and second != first
    assert path.read_text().strip() == second
    assert await keys.authenticate(my_secret) is not None  # the user's key is untouched


def test_the_secret_file_sits_next_to_a_sqlite_file_or_per_server_database(
    tmp_path: Path,
) -> None:
    assert secret_path("sqlite:///./budgets.db") == Path("./budgets.db.demo-key")
    assert secret_path("sqlite://") is None
    assert secret_path("sqlite:///:memory:") is None
    pg = secret_path("postgresql://u:hunter2@db:5432/app", state_dir=tmp_path)
    other = secret_path("postgresql://u:hunter2@db:5432/other", state_dir=tmp_path)
    assert pg is not None and pg.parent == tmp_path and pg != other
    assert "hunter2" not in pg.name


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")}
    env["CCAPI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env["CCAPI_WORKDIR_ROOT"] = str(tmp_path)
    return env


def _serve_until(
    argv: list[str], env: dict[str, str], marker: str, *, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start a server and read its stdout up to the line containing ``marker``."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so _stop reaches make's child too
    )
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:  # ends when the process exits
        seen += line
        if marker in line:
            return proc, seen
    proc.wait(timeout=10)
    pytest.fail(f"server exited ({proc.returncode}) before printing {marker!r}:\n{seen[-3000:]}")


def _wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} never became healthy")


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_serve_demo_reuses_its_key_and_shows_the_real_port(tmp_path: Path) -> None:
    env = _env(tmp_path)
    secrets: list[str] = []
    for _ in range(2):
        port = free_port()
        argv = [str(CLI), "serve", "--demo", "--port", str(port)]
        proc, out = _serve_until(argv, env, "OpenAI SDK:")
        try:
            match = KEY_LINE.search(out)
            assert match, out
            secrets.append(match.group(1))
            kept = str(tmp_path / "serve.db.demo-key")
            origin = "a new key" if len(secrets) == 1 else "the same key as before"
            assert match.group(2).startswith(f"{origin}, kept in {kept}")
            assert f"curl -s http://127.0.0.1:{port}/v1/chat/completions" in out
            assert ":8080" not in out
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url)
            answer = httpx.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {match.group(1)}"},
                json={"model": "haiku", "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        finally:
            _stop(proc)
    assert secrets[0] == secrets[1]
    assert stat.S_IMODE((tmp_path / "serve.db.demo-key").stat().st_mode) == 0o600


def test_serve_on_a_busy_port_fails_before_minting_a_key(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(CLI), "serve", "--demo", "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "ccapi_" not in result.stdout + result.stderr
    assert not (tmp_path / "serve.db.demo-key").exists()
    assert not (tmp_path / "serve.db").exists()  # nothing was even opened


def test_serve_without_demo_says_how_to_get_a_key(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(CLI), "serve", "--port", str(port)]
    proc, out = _serve_until(argv, _env(tmp_path), "keys create --project")
    try:
        assert f"Serving on http://127.0.0.1:{port}" in out
        assert "claude-code-api keys create --project my-app" in out
        assert "ccapi_" not in out
    finally:
        _stop(proc)


def test_make_run_serves_on_the_port_and_host_given(tmp_path: Path) -> None:
    if subprocess.run(["make", "-q", "install"], cwd=ROOT).returncode != 0:
        pytest.skip("the checkout's .venv is not installed by `make install`")
    port = free_port()
    env = _env(tmp_path)
    argv = ["make", "-s", "run", f"PORT={port}", "HOST=127.0.0.1"]
    proc, out = _serve_until(argv, env, "OpenAI SDK:", cwd=ROOT)
    try:
        assert f"http://127.0.0.1:{port}/v1/chat/completions" in out
        _wait_healthy(f"http://127.0.0.1:{port}")
    finally:
        _stop(proc)
