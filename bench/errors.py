"""The benchmark's one root error."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class BenchError(WastewatchError):
    """A benchmark step did not happen; the message names the step and what to look at."""
