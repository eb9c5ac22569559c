"""How many dead letters the bridge writes to its log: a budget per device and window.

One broken device can send hundreds of bad messages a second, and logging each
at INFO once filled 1.5 MB of log in one burst.  The log needs only enough lines
to say what is wrong and who sends it: every dead letter is still counted
(``ww_bridge_dead_letters_total{reason}``) and kept, with its bytes, in
``waste.dlq.v1``.  So each key (the device id, or the topic when it names no
device) may log ``per_key`` lines per window of ``window_s`` seconds, all keys
together ``per_window`` lines (a flood of made-up topics has a new key per
message), and the first dead letter after a window that held anything back
brings that window's summary: "suppressed K dead letters from D devices".

Pure: no I/O, and the clock is injected so that tests drive the windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LogBudget", "Suppressed"]


@dataclass(frozen=True, slots=True)
class Suppressed:
    """What one window held back from the log."""

    letters: int
    keys: int
    """Distinct keys held back, up to the budget's ``max_tracked``."""
    keys_capped: bool
    """More distinct keys than ``max_tracked`` were held back."""
    seconds: float
    """Length of the window, from its first dead letter to the summary."""

    def __str__(self) -> str:
        devices = f"{self.keys}{'+' if self.keys_capped else ''} device"
        if self.keys != 1 or self.keys_capped:
            devices += "s"
        return (
            f"suppressed {self.letters} dead letters from {devices} in the last "
            f"{self.seconds:.0f} s (ww_bridge_dead_letters_total counts every one; "
            "waste.dlq.v1 keeps them)"
        )


class LogBudget:
    """Decides, dead letter by dead letter, whether to log it; `admit` it each time."""

    def __init__(
        self,
        *,
        per_key: int,
        per_window: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 10_000,
    ) -> None:
        if per_key < 0 or per_window < 0 or max_tracked < 1:
            raise ValueError("per_key and per_window must be >= 0, max_tracked >= 1")
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, not {window_s}")
        self._per_key = per_key
        self._per_window = per_window
        self._window_s = window_s
        self._clock = clock
        self._max_tracked = max_tracked
        self._start = clock()
        self._logged: dict[str, int] = {}  # at most per_window keys
        self._lines = 0
        self._held = 0
        self._held_keys: set[str] = set()  # at most max_tracked keys
        self._capped = False

    def admit(self, key: str) -> tuple[bool, Suppressed | None]:
        """Whether to log this dead letter, and the summary of a window that just ended."""
        now = self._clock()
        summary = self._close(now) if now - self._start >= self._window_s else None
        count = self._logged.get(key, 0)
        if count < self._per_key and self._lines < self._per_window:
            self._logged[key] = count + 1
            self._lines += 1
            return True, summary
        self._held += 1
        if len(self._held_keys) < self._max_tracked:
            self._held_keys.add(key)
        elif key not in self._held_keys:
            self._capped = True
        return False, summary

    def flush(self) -> Suppressed | None:
        """End the window now (e.g. at stop): its summary, if it held anything back."""
        return self._close(self._clock())

    def _close(self, now: float) -> Suppressed | None:
        summary = None
        if self._held:
            summary = Suppressed(
                letters=self._held,
                keys=len(self._held_keys),
                keys_capped=self._capped,
                seconds=now - self._start,
            )
        self._start = now
        self._logged.clear()
        self._lines = 0
        self._held = 0
        self._held_keys.clear()
        self._capped = False
        return summary
