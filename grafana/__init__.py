"""Grafana boards as code: grafanalib dashboards, their provisioning files, and the
expander that lets their SQL be tested without a Grafana server (see README.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.grafana.board import Board, PanelQuery
    from wastewatch.grafana.build import main
    from wastewatch.grafana.dashboards import boards
    from wastewatch.grafana.errors import DashboardError
    from wastewatch.grafana.macros import TimeRange, expand, parse_interval
    from wastewatch.grafana.variables import opening_values

__all__ = [
    "Board",
    "DashboardError",
    "PanelQuery",
    "TimeRange",
    "boards",
    "expand",
    "main",
    "opening_values",
    "parse_interval",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
