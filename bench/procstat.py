"""Peak resident memory of processes, from Linux's ``/proc/<pid>/status``.

``VmHWM`` is the high-water mark of the resident set over the process's whole
life: for a bridge or sink started by the benchmark that is the benchmark's
own peak; for Mosquitto, the Kafka broker and PostgreSQL it includes whatever
ran on them before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from wastewatch.workbench.supervise import peak_rss_mb, rss_mb

__all__ = [
    "PeakSampler",
    "children",
    "peak_rss_mb",
    "rss_mb",
    "tree_peak_rss_mb",
    "tree_rss_mb",
]

_PROC = Path("/proc")


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
    return _tree_max(root, peak_rss_mb)


def tree_rss_mb(root: int | None) -> float | None:
    """The largest current ``VmRSS`` among ``root`` and its descendants."""
    return _tree_max(root, rss_mb)


def _tree_max(root: int | None, probe: Callable[[int | None], float | None]) -> float | None:
    """The largest ``probe(pid)`` over ``root`` and all its descendants."""
    if root is None:
        return None
    best: float | None = None
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        value = probe(pid)
        if value is not None and (best is None or value > best):
            best = value
        todo.extend(children(pid))
    return best


class PeakSampler:
    """Samples resident memory every ``interval_s`` in a thread; keeps the maximum.

    For services that ran before the benchmark (Mosquitto, the Kafka broker,
    PostgreSQL) ``VmHWM`` would report an earlier peak; sampling during the run
    reports this run's.
    """

    def __init__(
        self, probes: dict[str, Callable[[], float | None]], interval_s: float = 0.5
    ) -> None:
        self._probes = probes
        self._interval_s = interval_s
        self._peaks: dict[str, float | None] = dict.fromkeys(probes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float | None]:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        return dict(self._peaks)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        for name, probe in self._probes.items():
            value = probe()
            best = self._peaks[name]
            if value is not None and (best is None or value > best):
                self._peaks[name] = value
