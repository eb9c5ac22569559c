"""The boards, one module each; :func:`boards` builds them all in menu order."""

from __future__ import annotations

from wastewatch.grafana.board import Board
from wastewatch.grafana.dashboards import collections, landfill, operations, sensor_health

__all__ = ["boards"]


def boards() -> list[Board]:
    """Every board, freshly built (builders are pure: same code, same JSON)."""
    return [operations.build(), landfill.build(), sensor_health.build(), collections.build()]
