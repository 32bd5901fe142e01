"""Upstream overload through the REAL ``claude`` binary (issue 11, item 8).

The fake upstream answers every request 529 ``overloaded_error``. The CLI's own retries are
bounded (``CLAUDE_CODE_MAX_RETRIES``, ``API_TIMEOUT_MS`` from the task timeout), so the service
answers a 503 with ``Retry-After`` well before the task timeout, instead of a 504 after it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ServerThread, admin_create_key_sync, make_settings
from tests.fakes.fixtures import claude_bin, fake_upstream, real_cli_env
from tests.fakes.upstream import FakeAnthropic, Reply

__all__ = ["claude_bin", "fake_upstream", "real_cli_env"]

pytestmark = pytest.mark.real_cli


def test_overloaded_upstream_is_a_503_with_retry_after_before_the_timeout(
    tmp_path: Path,
    claude_bin: str,
    real_cli_env: dict[str, str],
    fake_upstream: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLAUDE_CODE_MAX_RETRIES")  # the service's own bound, not the fixture's
    fake_upstream.responder = lambda body: Reply(status=529, error_type="overloaded_error")
    # 40 s: the CLI's default 10 retries back off for ~60 s, so without the bound this is a 504.
    settings = make_settings(tmp_path, demo=False, claude_bin=claude_bin, task_timeout=40)
    with ServerThread(create_app(settings)) as server:
        key = admin_create_key_sync(server.url, "overloaded")
        response = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "haiku", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_overloaded"
    assert int(response.headers["Retry-After"]) >= 1
    assert len(fake_upstream.messages) == settings.cli_max_retries + 1
