"""Monthly reports for planners (`wastewatch report --month YYYY-MM --out DIR`).

``data`` reads the month through the read-only role, ``plots`` draws it with
matplotlib, ``report`` writes the self-contained HTML page, the PNGs and the PDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.reports.errors import ReportError
    from wastewatch.reports.report import build_report

__all__ = ["ReportError", "build_report"]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
