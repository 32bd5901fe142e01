"""Keeps the Dockerfile and docker-compose.yml honest in the default suite, without an engine.

``make test-deploy`` (scripts/deploy/test_deploy.sh) builds the image and runs the compose stack
for real; these checks are the fast part that runs on every ``make test``. What an image build
would exercise is checked piece by piece: the wheel ``pip install`` gets
(package data, console scripts), the commands and settings the files name (they must exist in
the typer CLI and in ``Settings``), and the container's CMD and HEALTHCHECK, run for real as a
local process on the simulated CLI.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from claude_code_api.cli import app as cli_app
from claude_code_api.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "claude_code_api"
EXPECTED_CMD = ["claude-code-api", "serve", "--host", "0.0.0.0", "--port", "8080"]


# --- helpers ---------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    """Instructions of the last build stage (the image that runs)."""
    pairs = dockerfile_instructions()
    last_from = max(i for i, (ins, _) in enumerate(pairs) if ins == "FROM")
    return pairs[last_from:]


def setting_env_names() -> set[str]:
    """Every ``CCAPI_*`` variable Settings reads."""
    return {f"CCAPI_{name.upper()}" for name in Settings.model_fields}


def cli_accepts(argv: list[str]) -> bool:
    """Whether ``claude-code-api <argv> --help`` is a real command of the typer app."""
    assert argv[0] == "claude-code-api", argv
    result = CliRunner().invoke(cli_app, [*argv[1:], "--help"])
    return result.exit_code == 0


def interpolate(value: str) -> str:
    """Compose variable interpolation with defaults (``${X:-d}`` → d, ``${X}``/``${X:?m}`` → "")."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?(?::\?[^}]*)?\}", lambda m: m.group(2) or "", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


# --- docker-compose.yml ----------------------------------------------------------------------
def test_compose_services_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"api", "worker", "redis", "postgres", "migrate"} <= set(services)
    for name in ("api", "worker", "redis", "postgres"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check["interval"] and check["retries"] >= 1, name
    assert services["api"]["deploy"]["replicas"] >= 2
    assert "8080" in str(services["api"]["ports"][0])
    api_check = services["api"]["healthcheck"]["test"]
    assert any("/healthz" in part for part in api_check)


def test_compose_dependencies_wait_for_healthy_backends(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_compose_commands_exist_in_the_cli(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ours = [n for n, s in services.items() if str(s.get("image", "")).startswith("claude-code")]
    assert set(ours) == {"api", "worker", "migrate"}
    for name in ours:
        command = services[name]["command"]
        assert cli_accepts(command), f"{name}: {command} is not a claude-code-api command"
    assert services["api"]["command"] == EXPECTED_CMD


def test_compose_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    known = setting_env_names()
    for name in ("api", "worker", "migrate"):
        env = compose["services"][name]["environment"]
        ccapi = {k for k in env if k.startswith("CCAPI_")}
        assert ccapi <= known, f"{name}: unknown settings {ccapi - known}"
        assert "ANTHROPIC_API_KEY" in env and "ANTHROPIC_API_KEY" in env["ANTHROPIC_API_KEY"]
        assert {"CCAPI_REDIS_URL", "CCAPI_DATABASE_URL", "CCAPI_ADMIN_KEY"} <= ccapi


def test_compose_urls_point_at_the_backend_services(compose: dict[str, Any]) -> None:
    env = compose["services"]["api"]["environment"]
    pg = compose["services"]["postgres"]["environment"]
    db_url = interpolate(env["CCAPI_DATABASE_URL"])
    assert db_url == (
        f"postgresql://{pg['POSTGRES_USER']}:{interpolate(pg['POSTGRES_PASSWORD'])}"
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert interpolate(env["CCAPI_REDIS_URL"]).startswith("redis://redis:6379")
    # The values parse as real settings.
    settings = Settings(
        **{k.removeprefix("CCAPI_").lower(): interpolate(str(v)) or None
           for k, v in env.items() if k.startswith("CCAPI_")}
    )  # fmt: skip
    assert settings.redis_url and settings.database_url.startswith("postgresql://")


# --- Dockerfile ------------------------------------------------------------------------------
def test_dockerfile_runtime_image() -> None:
    stage = final_stage()
    instructions = [ins for ins, _ in stage]
    args = {ins: a for ins, a in stage}  # last one of each kind
    assert stage[0][1].startswith("python:3.11-slim")
    assert args["EXPOSE"] == "8080"
    assert json.loads(args["CMD"]) == EXPECTED_CMD
    runs = " ".join(a for ins, a in stage if ins == "RUN")
    assert "npm install -g" in runs and "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" in runs
    assert re.search(r"pip install \S*\.whl", runs)
    user = args["USER"]
    assert user not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")
    assert "useradd" in runs and user in runs
    healthcheck = args["HEALTHCHECK"]
    assert "/healthz" in healthcheck and "8080" in healthcheck


def test_dockerfile_pins_the_cli_and_takes_node_22() -> None:
    pairs = dockerfile_instructions()
    (cli_arg,) = [a for ins, a in final_stage() if ins == "ARG" and a.startswith("CLAUDE_CODE_")]
    name, _, version = cli_arg.partition("=")
    assert name == "CLAUDE_CODE_VERSION"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin an exact CLI version, not {version!r}"
    # The CLI's releases from 2.1.33x on declare engines node >= 22.
    (node_from,) = [a for ins, a in pairs if ins == "FROM" and a.startswith("node:")]
    major = int(re.match(r"node:(\d+)", node_from).group(1))  # type: ignore[union-attr]
    assert major >= 22, node_from
    copied = [a for ins, a in final_stage() if ins == "COPY" and "--from=node" in a]
    assert any("/usr/local/bin/node" in a for a in copied)


def test_dockerfile_env_names_are_real_settings() -> None:
    known = setting_env_names()
    for ins, args in dockerfile_instructions():
        if ins == "ENV":
            for name in re.findall(r"(CCAPI_\w+)=", args):
                assert name in known, name


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for ins, args in dockerfile_instructions():
        if ins == "COPY" and "--from=" not in args:
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert (ROOT / src).exists(), src
                assert src not in ignored, f"{src} is excluded by .dockerignore"
    assert {".git", ".venv", "tests", ".env"} <= ignored


def test_cmd_subcommand_exists() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


# --- the wheel the image installs ------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: hatchling is a dev dependency, so this works offline.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (path,) = out.glob("claude_code_api-*.whl")
    return path


def test_wheel_contains_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "claude_code_api/py.typed",
        "claude_code_api/client/__init__.py",
        "claude_code_api/storage/migrations/env.py",
        "claude_code_api/storage/migrations/script.py.mako",
        "claude_code_api/routing/default_rules.toml",
        "claude_code_api/routing/cost_aware_rules.toml",
        "claude_code_api/routing/learned_router.npz",  # the learned router: no download at run time
    ):
        assert required in names, required
    assert any(n.startswith("claude_code_api/storage/migrations/versions/") for n in names)
    # Every file of the source package (data files included) ships, and no tests do.
    source = {
        "claude_code_api/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert source <= names, sorted(source - names)
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_console_scripts_resolve(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (entry_file,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_file).decode()
    section = text.split("[console_scripts]", 1)[1]
    scripts = dict(
        (name.strip(), target.strip())
        for name, _, target in (line.partition("=") for line in section.splitlines())
        if target
    )
    assert {"claude-code-api", "claude-sim"} <= set(scripts)
    for target in scripts.values():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), target


# --- the container's CMD and HEALTHCHECK, run as a local process -----------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``claude-code-api serve`` exactly as the image's CMD, on a free loopback port, demo mode."""
    port = free_port()
    argv = [*EXPECTED_CMD]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    exe = Path(sys.executable).parent / argv[0]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CCAPI_")},
        "CCAPI_DEMO": "true",
        "CCAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'docker.db'}",
        "CCAPI_WORKDIR_ROOT": str(tmp_path),
    }
    proc = subprocess.Popen(
        [str(exe), *argv[1:]], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_cmd_serves_and_healthcheck_passes(
    served: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, proc = served
    healthcheck = dict(final_stage())["HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    command = [part.replace("8080", str(port)) for part in command]
    assert command[0] == "python"
    command[0] = sys.executable
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(command, capture_output=True, timeout=10)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"the server exited with {proc.returncode}: {stderr[-3000:]}")
        time.sleep(0.2)
    assert result.returncode == 0, result.stderr.decode()[-2000:]


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CCAPI_ROUTER_RULES": "RULES"}, "rules.toml:3: rule 'x': tier must be one of"),
        ({"CCAPI_ROUTER_RULES": "nonsense"}, "not a rules profile"),
        ({"CCAPI_TIER_MODELS": '{"gpt": "claude-sonnet-4-6"}'}, "'gpt' is not a tier"),
    ],
)
def test_serve_refuses_bad_configuration_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'extends = "default"\n[[rules]]\ntier = "gpt-5"\nname = "x"\nchars_under = 5\n'
    )
    env = {k: v.replace("RULES", str(rules)) for k, v in env.items()}
    result = CliRunner().invoke(cli_app, ["serve", "--demo"], env=env)
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output


# --- make test-deploy's stand-ins for the base images ------------------------------------------
def test_every_base_image_has_a_local_stand_in(compose: dict[str, Any]) -> None:
    """make test-deploy builds an image of each FROM / image: name when Docker Hub is out of
    reach; a new base image without a stand-in would break it only there."""
    standins = ROOT / "scripts" / "deploy" / "standins"
    bases = {a.split()[0] for ins, a in dockerfile_instructions() if ins == "FROM"}
    bases |= {s["image"] for s in compose["services"].values() if "build" not in s}
    for image in bases:
        repo = image.split(":")[0]
        assert (standins / repo / "Dockerfile").exists(), f"no stand-in for {image}"
        assert f"{repo}:*) ensure_standin" in (ROOT / "scripts/deploy/test_deploy.sh").read_text()
    for entrypoint in standins.glob("*/docker-entrypoint.sh"):
        assert os.access(entrypoint, os.X_OK), entrypoint
