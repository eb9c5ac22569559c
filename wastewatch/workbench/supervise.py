"""The workbench's one subprocess supervisor.

Every process the workbench starts and stops goes through here: the stack's
daemons (:func:`launch` and :func:`terminate`, by pid), the benchmarks' bridge,
sink and processors, and the demo's components and jobs (:class:`Child`).

A child runs in a session of its own (``start_new_session``), so a terminal's
Ctrl-C reaches only its parent, which then stops it itself, by pid: SIGTERM,
then after a timeout SIGKILL to the process group it leads (helpers it started
go too).  Nothing is ever stopped by name.  Its stdout and stderr go to a log
file; the log's tail, the exit code and the peak resident memory (``VmHWM``)
are there for the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Self

from wastewatch.errors import WastewatchError

__all__ = [
    "Child",
    "ChildError",
    "launch",
    "log_tail",
    "peak_rss_mb",
    "rss_mb",
    "status_mb",
    "terminate",
]

_PROC = Path("/proc")


class ChildError(WastewatchError):
    """A supervised child could not start, exited early or never became ready."""


def status_mb(pid: int | None, field: str) -> float | None:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``) in MiB, one decimal."""
    if pid is None:
        return None
    try:
        status = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None  # a kernel thread or a zombie


def peak_rss_mb(pid: int | None) -> float | None:
    """``VmHWM`` (the resident set's high-water mark) of ``pid`` in MiB, or None."""
    return status_mb(pid, "VmHWM")


def rss_mb(pid: int | None) -> float | None:
    """Current ``VmRSS`` of ``pid`` in MiB, or None."""
    return status_mb(pid, "VmRSS")


def log_tail(log: Path | None, lines: int = 8) -> list[str]:
    """The last ``lines`` lines of a log file; empty when there is none."""
    if log is None:
        return []
    try:
        return log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return []


def launch(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = None,
    banner: str | None = None,
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start ``argv`` in a session of its own, stderr (and stdout unless given) to ``log``.

    Returns the process and the open log file (the caller closes it once the
    process is gone; a daemon's parent may close it at once).  ``banner`` is
    written to the log first, with a time stamp.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = log.open("ab")
    if banner is not None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        fh.write(f"\n=== {stamp} {banner}: {' '.join(argv)}\n".encode())
        fh.flush()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=fh if stdout is None else stdout,
            stderr=fh,
            start_new_session=True,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except BaseException:
        fh.close()
        raise
    return proc, fh


def terminate(
    targets: Sequence[tuple[int, Callable[[], bool]]],
    *,
    timeout_s: float,
    on_kill: Callable[[int], None] | None = None,
) -> list[int]:
    """SIGTERM every ``(pid, alive)`` at once, wait for all, SIGKILL what is left.

    ``alive()`` says whether the pid still is the process meant (not a recycled
    pid); ``on_kill`` replaces the plain SIGKILL (a process group's, say).  At
    once, not one by one: a cluster whose members need each other to shut down
    cleanly (Kafka's controlled shutdown asks the controller quorum) would leave
    the last ones waiting for a quorum that is already gone.  Returns the pids
    that had to be killed.
    """
    running = [(pid, alive) for pid, alive in targets if alive()]
    for pid, _ in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive() for _, alive in running):
        time.sleep(0.1)
    killed: list[int] = []
    for pid, alive in running:
        if alive():
            killed.append(pid)
            if on_kill is not None:
                on_kill(pid)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        reap(pid)
    return killed


def reap(pid: int) -> None:
    """Collect the exit status when ``pid`` happens to be our own child."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class Child:
    """One supervised subprocess with a log file: start, wait ready, stop, kill, report.

    ``stop()`` and ``kill()`` are safe to call twice; after ``stop()`` the exit
    code is in :attr:`exit_code`.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        log: Path,
        stdin_pipe: bool = False,
        stdout_pipe: bool = False,
        stdout_file: Path | None = None,
        banner: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = None if env is None else dict(env)
        self.log = log
        self.stdin_pipe = stdin_pipe
        self.stdout_pipe = stdout_pipe
        self.stdout_file = stdout_file
        self.banner = banner
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.stop_requested = False
        self.killed = False
        self.exit_code: int | None = None
        self._files: list[IO[bytes]] = []

    @classmethod
    def python_module(
        cls, module: str, *args: str, env: Mapping[str, str] | None, log: Path, name: str = ""
    ) -> Self:
        """``python -m module args`` with this interpreter (not yet started)."""
        return cls(name or module, [sys.executable, "-m", module, *args], env=env, log=log)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Start it; raises :class:`ChildError` when it cannot be."""
        stdout: int | IO[bytes] | None = None
        if self.stdout_pipe:
            stdout = subprocess.PIPE
        elif self.stdout_file is not None:
            out = self.stdout_file.open("wb")
            self._files.append(out)
            stdout = out
        try:
            self.proc, log = launch(
                self.argv,
                log=self.log,
                env=self.env,
                stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                stdout=stdout,
                banner=self.banner,
            )
        except OSError as exc:
            self._close_files()
            raise ChildError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        self._files.append(log)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_problem(self) -> str | None:
        """Why it is no longer running although nobody asked it to stop; None while it runs."""
        code = self.poll()
        if code is None or self.stop_requested:
            return None
        why = f"exited with {code}"
        if code == 0:
            why = "stopped cleanly before it was asked to (a SIGTERM/SIGINT from elsewhere?)"
        return f"{self.name} {why}; last lines of {self.log}:\n{self.tail(12)}"

    def wait_ready(
        self, check: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.2
    ) -> float:
        """Poll ``check`` until true; the seconds it took.

        Raises :class:`ChildError` at once when the child exits, and when
        ``timeout_s`` passes first (a ``check`` that raises means "not yet").
        """
        started = time.monotonic()
        while True:
            problem = self.exit_problem()
            if problem is not None:
                raise ChildError(problem)
            with contextlib.suppress(Exception):
                if check():
                    return time.monotonic() - started
            if time.monotonic() - started >= timeout_s:
                raise ChildError(
                    f"{self.name} not ready within {timeout_s:.0f} s; "
                    f"last lines of {self.log}:\n{self.tail(12)}"
                )
            time.sleep(interval_s)

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL its process group; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self.stop_requested = True
            terminate(
                [(proc.pid, lambda: proc.poll() is None)],
                timeout_s=timeout_s,
                on_kill=lambda _pid: self.kill(),
            )
        self._reap_group()
        self._close_files()
        self.exit_code = proc.poll()
        return self.exit_code

    def kill(self) -> None:
        """SIGKILL (``kill -9``) to the process group it leads, then wait for the leader."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        self.exit_code = proc.poll()

    def send(self, sig: signal.Signals) -> None:
        """A signal to the child itself (SIGSTOP / SIGCONT to pause it)."""
        if self.alive and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def _reap_group(self) -> None:
        """Helpers the child started in its group go too, once it has exited."""
        proc = self.proc
        if proc is None or proc.poll() is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _group_alive(proc.pid):
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and _group_alive(proc.pid):
                time.sleep(0.1)

    def _close_files(self) -> None:
        for fh in self._files:
            with contextlib.suppress(OSError):
                fh.close()
        self._files = []

    # -- report -----------------------------------------------------------------------

    def peak_rss_mb(self) -> float | None:
        """Its resident memory's high-water mark while it runs; None once it is gone."""
        return peak_rss_mb(self.pid) if self.alive else None

    def tail(self, lines: int = 8) -> str:
        text = log_tail(self.log, lines)
        if not text:
            return "    (no log)"
        return "\n".join("    " + line for line in text)
