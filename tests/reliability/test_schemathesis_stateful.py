"""Stateful schemathesis run over the whole API (issue 11): thousands of generated calls,
no 5xx, and no 2xx without a valid key.

The schemathesis CLI runs every phase (examples, coverage, fuzzing and stateful sequences that
feed one response into the next request, e.g. a created key into its revocation) against a live
server on the simulated CLI, authenticated with the admin key. ``ignored_auth`` repeats each
successful call without credentials and with a wrong key and fails unless that is refused.
The run's summary counts the cases generated (and sent).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from claude_code_api.app import create_app
from tests.api.conftest import ADMIN_KEY, ServerThread, make_settings

MIN_CASES = 2000


def _cases(output: str) -> int:
    """Test cases schemathesis generated, from its summary ("Test cases: N generated, ...")."""
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


@pytest.mark.timeout(900)  # ~60 s on an idle 2-core machine; far more under parallel load
def test_stateful_schemathesis_run_finds_no_5xx_and_no_unauthenticated_2xx(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path, max_workers=4, task_timeout=5, default_rate_limit=1_000_000, cache_ttl=3600
    )
    with ServerThread(create_app(settings)) as server:
        cli = Path(sys.executable).parent / "schemathesis"
        # One generator thread: CPython 3.11 keeps the AST converter's recursion depth in
        # per-interpreter state, so hypothesis describing strategies (ast.parse of lambdas) in
        # two threads at once races on it ("SystemError: AST constructor recursion depth
        # mismatch"), a failure of the generator, not of any response. With one worker the run
        # is also the same on every machine.
        result = subprocess.run(
            [
                str(cli), "run", f"{server.url}/openapi.json",
                "--checks", "not_a_server_error,ignored_auth",
                "--phases", "examples,coverage,fuzzing,stateful",
                "--max-examples", "50",
                "--header", f"Authorization: Bearer {ADMIN_KEY}",
                "--request-timeout", "20",
                "--seed", "11",
                "--generation-deterministic",
                "--workers", "1",
            ],
            capture_output=True, text=True, timeout=850, cwd=tmp_path,
        )  # fmt: skip
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert _cases(result.stdout) >= MIN_CASES, tail
