"""The demo's one root error: a message that says what failed and where to look."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class DemoError(WastewatchError):
    """The demo could not start or a component failed; the message names the log."""
