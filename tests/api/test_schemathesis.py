"""Property-based run of schemathesis over the OpenAPI spec: no input may cause a 5xx.

It runs the schemathesis CLI against a live server on the simulated CLI, authenticated with
the admin key (so admin routes are exercised too). Only the ``not_a_server_error`` check is
asserted: 4xx answers to generated nonsense are correct behaviour.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ADMIN_KEY, ServerThread, make_settings


@pytest.mark.timeout(420)  # 20 operations; a busy 2-core machine needs minutes
def test_schemathesis_finds_no_server_errors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_workers=2, task_timeout=5, default_rate_limit=100000)
    with ServerThread(create_app(settings)) as server:
        cli = Path(sys.executable).parent / "schemathesis"
        result = subprocess.run(
            [
                str(cli),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--header",
                f"Authorization: Bearer {ADMIN_KEY}",
                "--request-timeout",
                "20",
                "--seed",
                "1",
                "--generation-deterministic",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,
        )
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
