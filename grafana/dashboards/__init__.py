"""The boards, one module each; :func:`boards` builds them all in menu order."""

from __future__ import annotations

from grafana.board import Board
from grafana.dashboards import collections, fleet, landfill, operations

__all__ = ["boards"]


def boards() -> list[Board]:
    """Every board, freshly built (builders are pure: same code, same JSON)."""
    return [operations.build(), landfill.build(), fleet.build(), collections.build()]
