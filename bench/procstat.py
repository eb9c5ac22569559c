"""Peak resident memory of processes, from Linux's ``/proc/<pid>/status``.

``VmHWM`` is the high-water mark of the resident set over the process's whole
life: for a bridge or sink started by the benchmark that is the benchmark's
own peak; for Mosquitto, the Kafka broker and PostgreSQL it includes whatever
ran on them before.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["children", "peak_rss_mb", "tree_peak_rss_mb"]

_PROC = Path("/proc")


def peak_rss_mb(pid: int | None) -> float | None:
    """``VmHWM`` of ``pid`` in MiB (one decimal), or None when it cannot be read."""
    if pid is None:
        return None
    try:
        status = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            kib = int(line.split()[1])
            return round(kib / 1024, 1)
    return None  # a kernel thread or a zombie


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all threads' ``children`` lists)."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in (_PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError):
                out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def tree_peak_rss_mb(root: int | None) -> float | None:
    """The largest ``VmHWM`` among ``root`` and its descendants (PostgreSQL's backends)."""
    if root is None:
        return None
    best: float | None = None
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss = peak_rss_mb(pid)
        if rss is not None and (best is None or rss > best):
            best = rss
        todo.extend(children(pid))
    return best
