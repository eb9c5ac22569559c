"""The monthly report's error: it could not be written where it was asked to go."""

from __future__ import annotations

from wastewatch.errors import WastewatchError

__all__ = ["ReportError"]


class ReportError(WastewatchError):
    """The report (HTML, plots, PDF) could not be written; the message names the folder."""
