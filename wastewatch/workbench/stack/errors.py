"""The root error of the local stack: which step failed, why, and what to do."""

from __future__ import annotations

from pathlib import Path

from wastewatch.errors import WastewatchError


class StackError(WastewatchError):
    """A stack step failed; the message names the step, the cause and the remedy.

    Without a remedy of its own the hint points at what is running and what is not.
    """

    hint = "see `wastewatch services status`"

    def __init__(self, step: str, why: str, *, hint: str = "", log: Path | None = None) -> None:
        self.step = step
        self.why = why
        if hint:
            self.hint = hint
        self.log = log
        parts = [f"{step} failed: {why}"]
        if log is not None:
            parts.append(f"log: {log}")
        if hint:
            parts.append(f"what to do: {hint}")
        super().__init__("\n  ".join(parts))
