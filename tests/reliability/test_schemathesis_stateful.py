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
        # CPython 3.11's "SystemError: AST constructor recursion depth mismatch" sometimes
        # fires inside hypothesis while it describes the nested strategies of the tool
        # schemas (a failure of the generator, not of any response): such a run is repeated,
        # at most twice (with 2 workers runs differ). Any other failure fails at once.
        for _attempt in range(3):
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
                    "--workers", "2",
                ],
                capture_output=True, text=True, timeout=850, cwd=tmp_path,
            )  # fmt: skip
            output = result.stdout + result.stderr
            tool_flake = "AST constructor recursion depth mismatch" in output
            if result.returncode == 0 or not tool_flake or "Server error" in output:
                break
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert _cases(result.stdout) >= MIN_CASES, tail
