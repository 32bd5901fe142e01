"""The client package's public surface and its promise to import no server dependency."""

from __future__ import annotations

import subprocess
import sys

import claude_code_api
import claude_code_api.client as client_pkg
from claude_code_api.client import _exceptions

SERVER_MODULES = ("fastapi", "sqlalchemy", "redis", "uvicorn", "starlette", "alembic", "pydantic")


def test_importing_the_client_pulls_in_no_server_dependency() -> None:
    code = (
        "import sys\n"
        "from claude_code_api import ClaudeClient, AsyncClaudeClient\n"
        "import claude_code_api.client\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {SERVER_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_all_is_complete() -> None:
    public = {
        name
        for name in dir(client_pkg)
        if not name.startswith("_") and name[0].isupper() and name != "TYPE_CHECKING"
    }
    assert public == set(client_pkg.__all__)
    assert set(_exceptions.__all__) <= set(client_pkg.__all__)


def test_lazy_top_level_export() -> None:
    assert claude_code_api.ClaudeClient is client_pkg.ClaudeClient
    assert claude_code_api.AsyncClaudeClient is client_pkg.AsyncClaudeClient


def test_every_error_carries_the_common_fields() -> None:
    for name in _exceptions.__all__:
        cls = getattr(_exceptions, name)
        assert issubclass(cls, _exceptions.ClaudeAPIError), name
    err = _exceptions.ClaudeAPIError("boom", status_code=None, code="c", request_id="r")
    assert (err.message, err.status_code, err.code, err.request_id) == ("boom", None, "c", "r")
    assert str(err) == "boom (request id r)"
