"""The ``claude-code-api`` command: serve, worker, admin (keys, budgets, usage, db)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import typer

from claude_code_api import __version__

app = typer.Typer(help="Claude Code API Service.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the service version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8080, help="TCP port."),
    demo: bool = typer.Option(False, help="Use the bundled simulated CLI (no credentials)."),
    workers: int = typer.Option(1, help="uvicorn worker processes (use Redis to share state)."),
    access_log: bool = typer.Option(True, help="Log every request (method, path, status)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    loop: str = typer.Option(
        "asyncio",
        help="Event loop: asyncio (default; spawns and reads CLI subprocesses ~10-30 ms faster "
        "per call than uvloop here, see bench/api.py), uvloop, or auto.",
    ),
) -> None:
    """Run the HTTP API with uvicorn (graceful shutdown waits CCAPI_SHUTDOWN_GRACE seconds)."""
    import asyncio
    import os

    import uvicorn
    from pydantic import ValidationError

    from claude_code_api.config import Settings
    from claude_code_api.demo import demo_banner, demo_key, key_hint, local_url, secret_path
    from claude_code_api.routing import Router, RulesFileError

    if demo:
        os.environ["CCAPI_DEMO"] = "true"
    try:
        # Checked here too (the app checks again at startup) so that a bad setting or rules
        # file stops the command with one clear line instead of a server traceback.
        settings = Settings()
        Router.from_settings(settings)
    except (ValidationError, RulesFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    config = uvicorn.Config(
        "claude_code_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        loop=loop,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    # Bind before anything else: a busy port fails here, before a key is minted or printed.
    sock = _listen(host, port)
    url = local_url(host, sock.getsockname()[1])
    if settings.demo:
        secret, minted = asyncio.run(demo_key(settings.database_url))
        path = secret_path(settings.database_url)
        typer.echo(demo_banner(secret, url, minted=minted, path=path))
    else:
        typer.echo(key_hint(url, _self_command()))
    server = uvicorn.Server(config)
    if workers > 1:
        import inspect

        from uvicorn.supervisors import Multiprocess

        # uvicorn < 0.36 needs the target; later versions build each worker's server themselves.
        extra = (
            {"target": server.run} if "target" in inspect.signature(Multiprocess).parameters else {}
        )
        Multiprocess(config, sockets=[sock], **extra).run()
    else:
        server.run(sockets=[sock])
        if not server.started:
            raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE (the app's startup failed)


def _listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (inherited by its worker processes), or exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, as uvicorn's own bind: asyncio sets TCP_NODELAY only on accepted
    # sockets whose proto says TCP. With proto 0, every response after the first on a keep-alive
    # connection waited ~40 ms for the client's delayed ACK (Nagle): cache hits took 44 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(
            f"error: cannot listen on {host}:{port}: {exc.strerror} (another server running? "
            "choose a port with --port)",
            err=True,
        )
        raise typer.Exit(1) from exc
    sock.set_inheritable(True)
    return sock


def _self_command() -> str:
    """This command as typed (``.venv/bin/claude-code-api`` from ``make run``), for hints."""
    invoked = sys.argv[0] if sys.argv else ""
    return invoked if Path(invoked).name == "claude-code-api" else "claude-code-api"


# --- command groups contributed by the components (each module registers its own) ---------

from claude_code_api.storage.admin_cli import budget_app, db_app, keys_app, usage  # noqa: E402

app.add_typer(keys_app, name="keys")
app.add_typer(budget_app, name="budget")
app.add_typer(db_app, name="db")
app.command("usage")(usage)


@app.command("worker")
def worker(
    concurrency: int = typer.Option(
        0, min=0, help="Tasks run at once (default: CCAPI_MAX_WORKERS)."
    ),
) -> None:
    """Take tasks from the shared Redis queue and run them (needs CCAPI_REDIS_URL)."""
    from claude_code_api.remote.worker import main

    main(concurrency=concurrency or None)
