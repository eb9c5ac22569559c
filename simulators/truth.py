"""Ground truth as JSONL files, so detectors and forecasts can be scored.

One JSON object per line, keys in a fixed order, compact separators, UTF-8,
``\\n`` line ends: the same seed gives the same bytes. Times are UTC epoch
seconds (``ts``); event files add the ISO 8601 ``time`` for people. The
format (every file, every key) is documented in ``simulators/README.md``;
``manifest.json`` is written last, so its presence says the run finished.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

__all__ = ["TRUTH_FILES", "TRUTH_FORMAT_VERSION", "GroundTruth", "iso"]

TRUTH_FORMAT_VERSION: Final = 1
TRUTH_FILES: Final = (
    "fill.jsonl",
    "crossings.jsonl",
    "collections.jsonl",
    "faults.jsonl",
    "deliveries.jsonl",
    "calendar.jsonl",
    "devices.jsonl",
)


def iso(ts: int) -> str:
    """``2026-01-01T04:12:00Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"


class GroundTruth:
    """Writes the ground-truth files into a directory; a no-op without one."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._files: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = dict.fromkeys(TRUTH_FILES, 0)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "manifest.json").unlink(missing_ok=True)
            for name in TRUTH_FILES:
                self._files[name] = (directory / name).open(
                    "w", encoding="utf-8", newline="\n", buffering=1 << 20
                )

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _write(self, name: str, text: str) -> None:
        self.counts[name] += 1
        f = self._files.get(name)
        if f is not None:
            f.write(text)

    def fill(self, ts: int, bin_id: str, fill: float, overflow_l: float, kg: float) -> None:
        """True content of one bin at ``ts`` (the sampling grid)."""
        self._write(
            "fill.jsonl",
            f'{{"ts":{ts},"bin":"{bin_id}","fill":{round(fill, 4)!r},'
            f'"overflow_l":{round(overflow_l, 1)!r},"kg":{round(kg, 1)!r}}}\n',
        )

    def crossing(self, ts: int, bin_id: str, device_id: str, threshold: float) -> None:
        self._write(
            "crossings.jsonl",
            _line(
                {
                    "ts": ts,
                    "time": iso(ts),
                    "bin": bin_id,
                    "device": device_id,
                    "threshold": threshold,
                }
            ),
        )

    def event(self, name: str, obj: dict[str, Any]) -> None:
        """A line in ``name`` (collections, faults, deliveries, calendar, devices)."""
        self._write(name, _line(obj))

    def close(self, manifest: dict[str, Any]) -> None:
        """Flush every file and write ``manifest.json`` (counts included) last."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        if self.directory is not None:
            body = {"format_version": TRUTH_FORMAT_VERSION, **manifest, "lines": self.counts}
            (self.directory / "manifest.json").write_text(
                json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                encoding="utf-8",
            )
