"""CLI processes never outlive their worker; what a killed worker left behind is swept at start.

Two halves:

- **Parent-death signal** (Linux): every CLI is started with :func:`die_with_parent` as its
  ``preexec_fn``, which sets ``PR_SET_PDEATHSIG = SIGKILL``. When the worker process dies, even
  by SIGKILL (no cleanup code runs), the kernel kills the CLI at once instead of leaving it to
  PID 1, where a hung one would live on past the task timeout.
- **Sweep at start** (:func:`sweep_stale`): each task directory records its owner (pid and
  process start time, so a reused pid is not mistaken for the owner) and the CLI's process
  group. A starting pool kills what is left of process groups whose owner is gone (the CLI's
  own children, which the parent-death signal does not reach) and removes their directories.
  A process is only killed if it is in the recorded group *and* runs in that task directory,
  so a recycled group id can never hit an unrelated process.

A task that resumed a rebuilt CLI session (earlier turns) also names that session's directory
(under the CLI's config directory, outside the task directory) in ``.ccapi-sessions``; the
sweep removes it with the task directory.

Other platforms: no parent-death signal; the sweep still runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Prefixes of the per-task directories (cold tasks, warm processes).
DIR_PREFIXES = ("ccapi-task-", "ccapi-warm-")
OWNER_FILE = ".ccapi-owner"
GROUP_FILE = ".ccapi-pgid"
SESSIONS_FILE = ".ccapi-sessions"
#: A directory without an owner file (an older version) is removed once this old.
UNOWNED_MAX_AGE = 24 * 3600.0

_PR_SET_PDEATHSIG = 1
# Resolved in the parent: the child, between fork and exec, only makes one C call.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def die_with_parent() -> None:
    """``preexec_fn`` of a CLI: SIGKILL it when the worker that started it dies (Linux)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None if it does not exist)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if fields[0] not in ("Z", "X") else None


def owner_stamp() -> str:
    """``"<pid> <start time>"`` of this process, written into each task directory."""
    return f"{os.getpid()} {_start_time(os.getpid()) or '?'}"


def mark_owner(workdir: str | Path) -> None:
    """Record this process as the owner of ``workdir`` (call right after creating it)."""
    (Path(workdir) / OWNER_FILE).write_text(owner_stamp())


def mark_group(workdir: str | Path, pgid: int) -> None:
    """Record the CLI's process group (its pid: it runs in its own session)."""
    with contextlib.suppress(OSError):
        (Path(workdir) / GROUP_FILE).write_text(str(pgid))


def mark_sessions(workdir: str | Path, sessions: str | Path) -> None:
    """Record the directory of the CLI session rebuilt for the task (removed with it)."""
    (Path(workdir) / SESSIONS_FILE).write_text(str(sessions))


def _remove_sessions(workdir: Path) -> None:
    """Remove the session directory a task directory names, if it is one (a ``projects``
    entry named after a task directory)."""
    with contextlib.suppress(OSError):
        sessions = Path((workdir / SESSIONS_FILE).read_text())
        if sessions.parent.name == "projects" and "ccapi-task-" in sessions.name:
            shutil.rmtree(sessions, ignore_errors=True)


def _owner_alive(stamp: str) -> bool:
    pid_text, _, started = stamp.partition(" ")
    if not pid_text.isdigit():
        return False
    return _start_time(int(pid_text)) == started


def _kill_group_in(pgid: int, workdir: Path) -> int:
    """SIGKILL the processes of group ``pgid`` whose working directory is ``workdir``."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except (OSError, ValueError, IndexError):
            continue
        if cwd == str(workdir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def sweep_stale(root: Path | None) -> tuple[int, int]:
    """Kill leftover processes and remove task directories of dead owners under ``root``.

    ``root`` None means the system temp directory (where the runner puts them by default).
    Returns ``(directories removed, processes killed)``.
    """
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = killed = 0
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(DIR_PREFIXES) and p.is_dir()]
    except OSError:
        return 0, 0
    for workdir in candidates:
        try:
            stamp = (workdir / OWNER_FILE).read_text()
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - workdir.stat().st_mtime > UNOWNED_MAX_AGE:
                    shutil.rmtree(workdir, ignore_errors=True)
                    removed += 1
            continue
        except OSError:
            continue
        if _owner_alive(stamp):
            continue
        with contextlib.suppress(OSError, ValueError):
            killed += _kill_group_in(int((workdir / GROUP_FILE).read_text()), workdir.resolve())
        _remove_sessions(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        removed += 1
    if removed or killed:
        log.warning(
            "swept %d task directories and %d processes left by a worker that died",
            removed,
            killed,
        )
    return removed, killed
