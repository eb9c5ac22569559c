"""Reading the services' /metrics (Prometheus text) and /healthz (JSON) over loopback.

The demo asks the running bridge, sink and processors how far they are instead
of guessing from the clock: counters only grow while a process lives, so the
demo compares them within one run of the services it started.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

_SAMPLE: Final = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL: Final = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class Scrape:
    """Every sample of one or more /metrics pages (processes' series add up)."""

    samples: list[Sample] = field(default_factory=list)

    def total(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over samples whose labels match; a ``topic`` label matches by
        suffix, because some services label topics with the tenant prefix and some
        without."""
        out = 0.0
        for s in self.samples:
            if s.name != name:
                continue
            if all(_matches(k, s.labels.get(k), v) for k, v in labels.items()):
                out += s.value
        return out

    def extend(self, other: Scrape) -> None:
        self.samples.extend(other.samples)


def _matches(key: str, have: str | None, want: str) -> bool:
    if have is None:
        return False
    return have.endswith(want) if key == "topic" else have == want


def parse(text: str) -> Scrape:
    """Prometheus text format -> samples (comments and malformed lines skipped)."""
    out = Scrape()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.samples.append(Sample(m.group(1), labels, value))
    return out


def _http(url: str) -> str:
    """Only plain http:// URLs (the services' own loopback endpoints) are opened."""
    if not url.startswith("http://"):
        raise ValueError(f"not an http:// URL: {url!r}")
    return url


def scrape(urls: Iterable[str], timeout_s: float = 3.0) -> Scrape:
    """All the pages in one :class:`Scrape`; a page that does not answer adds nothing."""
    out = Scrape()
    for url in urls:
        try:
            with urllib.request.urlopen(_http(url), timeout=timeout_s) as resp:  # noqa: S310
                out.extend(parse(resp.read().decode("utf-8", "replace")))
        except (OSError, ValueError):
            continue
    return out


def health(url: str, timeout_s: float = 3.0) -> dict[str, Any] | None:
    """The /healthz report (also when it says 503), or None when nothing answers."""
    try:
        with urllib.request.urlopen(_http(url), timeout=timeout_s) as resp:  # noqa: S310
            data = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            data = json.loads(exc.read() or b"{}")
        except ValueError:
            return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
