"""The demo's processes: long-lived components and one-shot jobs, each a subprocess
supervised by :class:`wastewatch.workbench.supervise.Child`.

Each runs in a session of its own (``start_new_session``), so the terminal's
Ctrl-C reaches only the demo, which then stops them itself, by pid, newest
first: SIGTERM (each service drains and exits 0), then after a timeout SIGKILL
to the process group it leads (the fleet's publisher processes are in it).
Nothing is ever stopped by name.  stdout and stderr go to a log file per
component; the fleet's stdout is a pipe of JSON progress lines instead.

A component that exits without being asked to has *died*: the demo shows it,
stops the rest and exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal, Self

from wastewatch.workbench.demo.errors import DemoError
from wastewatch.workbench.supervise import Child, ChildError

State = Literal["not started", "running", "stopping", "stopped", "died", "killed", "done", "failed"]


class Process(Child):
    """One component with a log file (a :class:`Child`) and the state the demo shows."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        log: Path,
        *,
        stdout_pipe: bool = False,
        stdin_pipe: bool = False,
        stdout_file: Path | None = None,
    ) -> None:
        super().__init__(
            name,
            argv,
            env=env,
            log=log,
            stdout_pipe=stdout_pipe,
            stdin_pipe=stdin_pipe,
            stdout_file=stdout_file,
            banner="wastewatch demo starts",
        )

    def start(self) -> Self:
        try:
            return super().start()
        except ChildError as exc:
            raise DemoError(str(exc)) from exc

    @property
    def state(self) -> State:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is None:
            return "stopping" if self.stop_requested else "running"
        if self.killed:
            return "killed"
        if self.stop_requested and code in (0, -signal.SIGTERM):
            return "stopped"
        return "died"

    @property
    def died(self) -> bool:
        return self.state == "died"


class Service(Process):
    """A long-lived component (bridge, sink, processors) with /metrics and /healthz."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        log: Path,
        *,
        metrics_url: str,
        health_url: str,
        stop_timeout_s: float,
    ) -> None:
        super().__init__(name, argv, env, log)
        self.metrics_url = metrics_url
        self.health_url = health_url
        self.stop_timeout_s = stop_timeout_s


class Fleet(Process):
    """The simulated fleet: JSON progress lines on stdout, ``live`` on stdin."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        super().__init__("fleet", argv, env, log, stdout_pipe=True, stdin_pipe=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last: dict[str, dict[str, Any]] = {}
        self._reader: threading.Thread | None = None

    def start(self) -> Self:
        super().start()
        assert self.proc is not None
        assert self.proc.stdout is not None
        out = self.proc.stdout
        self._reader = threading.Thread(target=self._read, args=(out,), daemon=True)
        self._reader.start()
        return self

    def _read(self, out: IO[bytes]) -> None:
        for raw in out:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                self.events.put(event)

    def drain(self) -> list[dict[str, Any]]:
        """Every progress line that arrived since the last call (also kept by kind)."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            self.last[str(event["event"])] = event
            out.append(event)
        return out

    def go_live(self) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.write(b"live\n")
            proc.stdin.flush()

    def stop(self, timeout_s: float) -> int | None:
        code = super().stop(timeout_s)
        if self._reader is not None:
            self._reader.join(5)
        self.drain()
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        return code


class Job(Process):
    """A one-shot command (route planning, the report): stdout to a file, parsed after."""

    @property
    def state(self) -> State:
        base = super().state
        if base == "died":
            code = self.poll()
            return "done" if code == 0 else "failed"
        return base

    def output(self) -> str:
        if self.stdout_file is None:
            return ""
        try:
            return self.stdout_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def last_json(self) -> dict[str, Any] | None:
        """The last stdout line that is a JSON object (the commands' ``--json`` contract)."""
        for line in reversed(self.output().strip().splitlines()):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
        return None


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
