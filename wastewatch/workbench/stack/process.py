"""Start, find and stop the stack's daemons by the pid files they leave.

A pid alone can be recycled by the kernel, so a pid is only trusted when the
process's command line still contains the marker we started it with: `down`
must never stop a process this project did not start.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import random
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.supervise import launch, log_tail, terminate

LOOPBACK = "127.0.0.1"


def run(
    cmd: Sequence[str],
    *,
    step: str,
    hint: str = "",
    log: Path | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 1800,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion; on failure raise StackError with its output's tail.

    With ``log`` the output goes to that file (builds are long and noisy) and
    the error points at it; otherwise the output is returned.
    """
    full = [*as_user_prefix(user), *cmd]
    try:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as fh:
                fh.write(f"\n$ {' '.join(full)}\n".encode())
                fh.flush()
                proc = subprocess.run(
                    full,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=timeout_s,
                    cwd=cwd,
                    check=False,
                )
            returncode = proc.returncode
            out = ""
        else:
            done = subprocess.run(
                full,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout_s,
                cwd=cwd,
                check=False,
            )
            returncode = done.returncode
            out = (done.stdout or "") + (done.stderr or "")
    except FileNotFoundError as exc:
        raise StackError(step, f"command not found: {full[0]}", hint=hint, log=log) from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(step, f"timed out after {timeout_s:.0f} s", hint=hint, log=log) from exc
    if returncode != 0:
        last = out.strip().splitlines()[-8:] if out else tail(log)
        why = f"`{' '.join(full)}` exited with {returncode}"
        if last:
            why += "\n    " + "\n    ".join(last)
        raise StackError(step, why, hint=hint, log=log)
    return out


def tail(log: Path | None, lines: int = 8) -> list[str]:
    return log_tail(log, lines)


def as_user_prefix(user: str | None) -> list[str]:
    """`runuser -u USER --` when we are root and must act as a service account."""
    if user is None or os.geteuid() != 0 or user == "root":
        return []
    return ["runuser", "-u", user, "--"]


def user_ids(user: str | None) -> tuple[int, int]:
    """uid/gid a service's files must belong to (ourselves when not root)."""
    if user is None or os.geteuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def spawn(
    cmd: Sequence[str],
    *,
    log: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a long-lived daemon detached from our session and record its pid."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    proc, fh = launch(cmd, log=log, env=env, cwd=cwd)
    fh.close()
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def read_pid(pid_file: Path) -> int | None:
    """The pid in a pid file (first line, as both we and PostgreSQL write it)."""
    try:
        first = pid_file.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def is_alive(pid: int | None, marker: str) -> bool:
    """True when ``pid`` runs and its command line contains ``marker`` (not a recycled pid)."""
    if pid is None or pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if "\nState:\tZ" in status:
        return False
    return marker in cmdline


def exists(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) process, whatever its command line.

    For a daemon we spawned moments ago: while a launcher re-executes itself (the
    java launcher does), its command line can briefly read empty, so the marker
    check of `is_alive` would call it dead.
    """
    if pid is None or pid <= 0:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return "\nState:\tZ" not in status


def stop_pid(pid: int, marker: str, *, timeout_s: float = 15.0) -> bool:
    """SIGTERM, wait, then SIGKILL; only if the pid still is the process we started."""
    return stop_pids([(pid, marker)], timeout_s=timeout_s)


def stop_pids(targets: Sequence[tuple[int, str]], *, timeout_s: float = 15.0) -> bool:
    """SIGTERM several processes at once, wait for all, SIGKILL what is left.

    Each only while its command line still carries its marker (see
    :func:`~wastewatch.workbench.supervise.terminate`).  Returns whether any was running.
    """
    alive = [(pid, marker) for pid, marker in targets if is_alive(pid, marker)]
    terminate(
        [(pid, functools.partial(is_alive, pid, marker)) for pid, marker in alive],
        timeout_s=timeout_s,
    )
    return bool(alive)


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` right now, picked by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free right now.

    Chosen below the kernel's ephemeral range where it can be, so an outgoing
    connection's source port cannot take one between this check and the broker's bind.
    """
    top = 60_000
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        if low > 20_000 + 10 * count:
            top = low
    for _ in range(200):
        first = random.randrange(20_000, top - count)  # noqa: S311 - not a secret
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return first
    raise StackError("find free ports", f"no {count} consecutive free loopback ports")


def ensure_port_free(port: int, *, step: str, setting: str) -> None:
    """Fail early, naming the setting to change, when another program holds our port."""
    if port_open(port):
        raise StackError(
            step,
            f"port {LOOPBACK}:{port} is already in use by another program",
            hint=f"stop that program or choose another port with {setting}=PORT",
        )


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    step: str,
    hint: str = "",
    log: Path | None = None,
    interval_s: float = 0.2,
    show_tail: bool = False,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until true; raise StackError naming the step when time runs out.

    With ``show_tail`` the error carries the end of ``log`` (a daemon that did not
    come up usually said why there).  ``alive`` is asked before each probe: a
    daemon that already exited fails at once, not after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if alive is not None and not alive():
            why = "the process exited"
            lines = tail(log, 12)
            if lines:
                why += "; its log ends:\n    " + "\n    ".join(lines)
            raise StackError(step, why, hint=hint, log=log)
        try:
            if check():
                return
        except Exception:  # noqa: S110 - a probe that throws just means "not yet"
            pass
        if time.monotonic() >= deadline:
            why = f"no answer within {timeout_s:.0f} s"
            lines = tail(log, 12) if show_tail else []
            if lines:
                why += "; the log ends:\n    " + "\n    ".join(lines)
            raise StackError(step, why, hint=hint, log=log)
        time.sleep(interval_s)
