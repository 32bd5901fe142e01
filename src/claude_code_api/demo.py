"""The demo key of ``serve --demo``: minted once, then the same key on every later start.

Only a key's hash is in the database, so the secret cannot be read back from it. The demo
secret is therefore kept in a file of its own, readable by its owner only (mode 0600):

* next to a SQLite database: ``budgets.db`` → ``budgets.db.demo-key``;
* for a server database (PostgreSQL), in ``$XDG_STATE_HOME/claude-code-api/`` (default
  ``~/.local/state/claude-code-api/``), one file per database URL;
* an in-memory database gets a fresh key every start (it starts empty anyway).

On start the file's secret is checked against the database; if the file is missing, or its key
was revoked or belongs to another database, a new key is minted, written to the file, and the
earlier keys that ``serve --demo`` minted itself are revoked, so there is one active demo key.
Keys made with ``keys create --project demo`` are never touched.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from claude_code_api.storage import Database, KeyStore

DEMO_PROJECT = "demo"
DEMO_KEY_NAME = "demo (serve --demo)"
#: Names earlier versions gave the key they minted on every start (revoked like the current one).
_MINTED_NAMES = frozenset({DEMO_KEY_NAME, "demo (created at startup)"})


def secret_path(database_url: str, state_dir: Path | None = None) -> Path | None:
    """Where the demo secret for ``database_url`` is kept (``None``: in-memory database)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or "mode=memory" in str(url):
            return None
        db_file = Path(url.database)
        return db_file.with_name(db_file.name + ".demo-key")
    if state_dir is None:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state_dir = Path(state) / "claude-code-api"
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return state_dir / f"demo-key-{digest[:16]}"


async def ensure_demo_key(keys: KeyStore, path: Path | None) -> tuple[str, bool]:
    """The demo key's secret, and whether it was minted just now (see the module docstring)."""
    secret = _read_secret(path)
    if secret:
        info = await keys.authenticate(secret)
        if info is not None and info.project_id == DEMO_PROJECT:
            return secret, False
    created, secret = await keys.create(DEMO_PROJECT, name=DEMO_KEY_NAME)
    for old in await keys.list(DEMO_PROJECT):
        if old.key_id != created.key_id and not old.revoked and old.name in _MINTED_NAMES:
            await keys.revoke(old.key_id)  # its secret is lost: nobody can be shown it again
    if path is not None:
        _write_private(path, secret)
    return secret, True


async def demo_key(database_url: str) -> tuple[str, bool]:
    """Open the database (migrating it), and return :func:`ensure_demo_key`'s answer."""
    db = Database.from_url(database_url)
    keys = KeyStore(db)
    try:
        await db.migrate()
        return await ensure_demo_key(keys, secret_path(database_url))
    finally:
        await keys.close()
        await db.dispose()


def _read_secret(path: Path | None) -> str | None:
    """The saved secret (a startup-time read of a tiny local file: blocking is fine)."""
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` with mode 0600 from the first byte (no readable window)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses (a wildcard bind is reached via loopback)."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def demo_banner(secret: str, url: str, *, minted: bool, path: Path | None = None) -> str:
    """What ``serve --demo`` prints once the port is bound."""
    if path is None:
        origin = "a new key (in-memory database: a new one every start)"
    elif minted:
        origin = f"a new key, kept in {path} for the next starts"
    else:
        origin = f"the same key as before, kept in {path}"
    return (
        "\n  Demo mode: simulated Claude CLI, no credentials needed.\n"
        f"  API key for project '{DEMO_PROJECT}': {secret}\n"
        f"  ({origin})\n"
        f"  Try: curl -s {url}/v1/chat/completions "
        f"-H 'Authorization: Bearer {secret}' -H 'Content-Type: application/json' "
        """-d '{"model":"auto","messages":[{"role":"user","content":"hello"}]}'\n"""
        f'  OpenAI SDK: OpenAI(base_url="{url}/v1", api_key="{secret}")\n'
    )


def key_hint(url: str, command: str = "claude-code-api") -> str:
    """What ``serve`` (without ``--demo``) prints: how to get a key for it."""
    return (
        f"\n  Serving on {url} (OpenAPI docs at {url}/docs).\n"
        "  Clients need an API key. Create one (it is printed once) in another shell, with\n"
        "  this server's CCAPI_DATABASE_URL:\n"
        f"      {command} keys create --project my-app\n"
        "  or POST /admin/keys with the admin key (CCAPI_ADMIN_KEY).\n"
    )
