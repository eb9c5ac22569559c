"""The small layer over grafanalib every board is written with.

Why a layer: each panel's SQL must be testable on its own, with the columns it
promises, and the generated JSON must be stable and valid without a Grafana
server.  :class:`Board` therefore

* places panels left to right on Grafana's 24-column grid (no overlaps, no
  hand-written coordinates to get wrong),
* numbers panels in order and points every query at the provisioned
  TimescaleDB datasource (uid ``timescaledb``),
* records each query with the columns its panel reads (:class:`PanelQuery`),
  which is what ``tests/test_grafana_queries.py`` and ``bench dashboards`` run.

Every title is Thai first, then English (``"ภาพรวม / Overview"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import attr
from grafanalib import core as g

__all__ = [
    "DATASOURCE",
    "SCHEMA_VERSION",
    "TIMEZONE",
    "Board",
    "Geomap",
    "PanelQuery",
    "Query",
    "Variable",
    "current_schema",
    "steps",
    "title",
]

DATASOURCE: dict[str, str] = {"type": "postgres", "uid": "timescaledb"}
"""The datasource of ``provisioning/datasources/timescaledb.yaml`` (read-only role)."""

TIMEZONE = "Asia/Bangkok"
SCHEMA_VERSION = 41
"""Grafana 11.6's dashboard schema (grafana-foundation-sdk 11.6's default): the JSON
is loaded as written, no migration (see :func:`current_schema`)."""

Format = Literal["table", "time_series"]


def title(th: str, en: str) -> str:
    """Thai first, English second: operators read Thai, vendors and auditors English."""
    return f"{th} / {en}"


def steps(*pairs: tuple[str, float | None]) -> list[dict[str, Any]]:
    """Threshold steps, lowest first; the first value must be None (the base colour)."""
    return [{"color": color, "value": value} for color, value in pairs]


@dataclass(frozen=True, slots=True)
class Query:
    """One SQL target of a panel and the columns the panel reads from its result."""

    sql: str
    columns: tuple[str, ...]
    fmt: Format = "table"
    ref: str = "A"
    may_be_empty: bool = False
    """True where no rows is a normal answer (no offline device, no route today)."""


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """A query as the tests and the benchmark see it: where it lives and what it returns."""

    board_uid: str
    panel_id: int
    panel_title: str
    query: Query
    interval: str | None = None
    """The panel's minimum interval (``$__interval`` is never finer), None = the datasource's."""

    @property
    def name(self) -> str:
        return f"{self.board_uid}#{self.panel_id}{self.query.ref}"


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable filled by SQL (``__value``/``__text`` columns)."""

    name: str
    label: str
    sql: str
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None
    """Grafana's "custom all value": sent for "All" as written (not quoted) instead of
    every option; None sends every option."""

    def to_grafanalib(self) -> Any:
        template = g.Template(
            name=self.name,
            label=self.label,
            query=self.sql,
            dataSource=DATASOURCE,
            multi=self.multi,
            includeAll=self.include_all,
            allValue=self.all_value,
            refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
            sort=g.SORT_DISABLED,
        )
        if self.include_all:
            # What Grafana itself saves for "All" (grafanalib would write the text $__all).
            template._current = {"selected": True, "text": ["All"], "value": ["$__all"]}
        return template


@dataclass(frozen=True, slots=True)
class CustomVariable:
    """A fixed list of choices (what-if shares), single value, inserted raw."""

    name: str
    label: str
    choices: tuple[str, ...]
    default: str

    def to_grafanalib(self) -> Any:
        return g.Template(
            name=self.name,
            label=self.label,
            query=",".join(self.choices),
            type="custom",
            default=self.default,
        )


def _target(q: Query) -> dict[str, Any]:
    # Plain dicts rather than grafanalib's SqlTarget: that one also writes the
    # Prometheus fields (expr, step, ...) and no editorMode, and Grafana 11 opens
    # a target without editorMode "code" in the query builder, which cannot show
    # this SQL.
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "format": q.fmt,
        "rawQuery": True,
        "rawSql": q.sql,
        "refId": q.ref,
    }


@attr.s
class _Geomap(g.Panel):  # type: ignore[misc]
    """Grafana's geomap panel (grafanalib 0.7 has only the old Worldmap plugin)."""

    layers: list[dict[str, Any]] = attr.ib(factory=list)
    view: dict[str, Any] = attr.ib(factory=dict)
    unit: str = attr.ib(default="percentunit")
    mappings: list[dict[str, Any]] = attr.ib(factory=list)

    def to_json_data(self) -> dict[str, Any]:
        out: dict[str, Any] = self.panel_json(
            {
                "type": "geomap",
                "fieldConfig": {
                    "defaults": {
                        "unit": self.unit,
                        "min": 0,
                        "max": 1,
                        "color": {"mode": "thresholds"},
                        "mappings": self.mappings,
                    },
                    "overrides": [],
                },
                "options": {
                    "view": self.view,
                    "controls": {
                        "showZoom": True,
                        "mouseWheelZoom": True,
                        "showAttribution": True,
                        "showScale": True,
                    },
                    "basemap": {"type": "default", "name": "OpenStreetMap", "config": {}},
                    "layers": self.layers,
                    "tooltip": {"mode": "details"},
                },
            }
        )
        return out


Geomap: Any = _Geomap
"""Typed as Any: its base class (grafanalib's Panel) has no types, so mypy cannot
see the inherited keyword arguments (title, description, thresholds, ...)."""


@dataclass
class Board:
    """One dashboard being built: panels in reading order, queries on record."""

    uid: str
    title: str
    description: str
    tags: Sequence[str] = ()
    variables: Sequence[Variable | CustomVariable] = ()
    time_from: str = "now-24h"
    refresh: str = "1m"
    panels: list[Any] = field(default_factory=list)
    queries: list[PanelQuery] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def row(self, text: str) -> None:
        """A full-width section header; the next panel starts below it."""
        self._newline()
        panel = g.RowPanel(title=text, gridPos=g.GridPos(h=1, w=24, x=0, y=self._y))
        panel.id = len(self.panels) + 1
        self.panels.append(panel)
        self._y += 1

    def add(self, panel: Any, *, w: int, h: int, queries: Sequence[Query]) -> None:
        """Place ``panel`` (a grafanalib panel) w x h on the grid, with its SQL."""
        if not 1 <= w <= 24:
            raise ValueError(f"panel width {w} is outside Grafana's 24-column grid")
        refs = [q.ref for q in queries]
        if len(set(refs)) != len(refs):
            raise ValueError(f"panel {panel.title!r}: refIds {refs} are not unique")
        if self._x + w > 24:
            self._newline()
        panel.gridPos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        panel.id = len(self.panels) + 1
        panel.dataSource = DATASOURCE
        panel.targets = [_target(q) for q in queries]
        self.panels.append(panel)
        interval = getattr(panel, "interval", None)
        self.queries.extend(
            PanelQuery(self.uid, panel.id, panel.title, q, interval) for q in queries
        )
        self._x += w
        self._row_h = max(self._row_h, h)

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
        self._x = 0
        self._row_h = 0

    def dashboard(self) -> Any:
        """The grafanalib Dashboard."""
        return g.Dashboard(
            title=self.title,
            uid=self.uid,
            description=self.description,
            tags=list(self.tags),
            panels=self.panels,
            templating=g.Templating(list=[v.to_grafanalib() for v in self.variables]),
            time=g.Time(self.time_from, "now"),
            timezone=TIMEZONE,
            refresh=self.refresh,
            schemaVersion=SCHEMA_VERSION,
            editable=False,
            graphTooltip=1,
        )


# What grafanalib 0.7.1 writes that current Grafana's dashboard schema (11.6,
# grafana-foundation-sdk) has no place for: the pre-5.0 row layout and its `span`
# widths (gridPos replaced them), the old table panel's `columns`/`styles`/`fontSize`,
# template tags (gone since Grafana 7) and the list of relative ranges the time picker
# no longer reads.
_LEGACY_DASHBOARD = frozenset({"rows", "hideControls", "sharedCrosshair", "style", "__inputs"})
_LEGACY_TIMEPICKER = frozenset({"time_options"})
_LEGACY_VARIABLE = frozenset({"tagValuesQuery", "tagsQuery", "useTags"})
_INTERVAL_ONLY_VARIABLE = frozenset({"auto", "auto_count", "auto_min"})
_LEGACY_PANEL = frozenset(
    {"span", "height", "minSpan", "error", "editable", "columns", "styles", "fontSize"}
)
_ROW_PANEL = frozenset({"type", "id", "title", "collapsed", "gridPos", "panels", "repeat"})


def _drop_nulls(node: Any) -> Any:
    """``node`` without null members, except a threshold step's base ``value: null``."""
    if isinstance(node, dict):
        is_step = "color" in node and "value" in node and len(node) == 2
        return {
            k: _drop_nulls(v)
            for k, v in node.items()
            if v is not None or (is_step and k == "value")
        }
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    return node


def _current_panel(panel: dict[str, Any]) -> dict[str, Any]:
    if panel.get("type") == "row":
        out = {k: v for k, v in panel.items() if k in _ROW_PANEL}
        out["panels"] = [_current_panel(p) for p in out.get("panels", [])]
        return out
    out = {k: v for k, v in panel.items() if k not in _LEGACY_PANEL}
    defaults = out.setdefault("fieldConfig", {}).setdefault("defaults", {})
    out["fieldConfig"].setdefault("overrides", [])
    # grafanalib's Table writes `mappings` and `color` beside fieldConfig (upstream
    # #573), where the table panel never looks: Grafana reads them per field.
    mappings = out.pop("mappings", [])
    if mappings:
        defaults["mappings"] = [*defaults.get("mappings", []), *mappings]
    colour = out.pop("color", None)
    if colour is not None:
        defaults.setdefault("color", colour)
    custom = defaults.get("custom")
    if isinstance(custom, dict) and "displayMode" in custom:
        # The table's cell display mode moved to custom.cellOptions (Grafana 10).
        mode = custom.pop("displayMode")
        custom.setdefault("cellOptions", {"type": mode})
    return out


def _current_variable(var: dict[str, Any]) -> dict[str, Any]:
    drop = _LEGACY_VARIABLE
    if var.get("type") != "interval":
        drop |= _INTERVAL_ONLY_VARIABLE
    out = {k: v for k, v in var.items() if k not in drop}
    current = {k: v for k, v in out.pop("current", {}).items() if k != "tags"}
    # grafanalib's "nothing picked" ({"selected": false}) is no option at all; without
    # `current` Grafana picks the first option, which is what that meant.
    if "text" in current or "value" in current:
        out["current"] = current
    return out


def current_schema(dashboard: dict[str, Any]) -> dict[str, Any]:
    """grafanalib's dashboard JSON in current Grafana's schema (``SCHEMA_VERSION``).

    The one post-processing step of every board (``build.py``): drops the legacy
    and null members grafanalib writes, moves value mappings and colours to
    ``fieldConfig.defaults`` (where the table panel reads them), writes the
    table's cell display mode as ``cellOptions``, and sets the schema version, so
    Grafana loads the JSON as written (no migration on load) and
    grafana-foundation-sdk reads every member (tests/test_grafana_schema.py).
    """
    out = {k: v for k, v in _drop_nulls(dashboard).items() if k not in _LEGACY_DASHBOARD}
    out["schemaVersion"] = SCHEMA_VERSION
    if "timepicker" in out:
        out["timepicker"] = {
            k: v for k, v in out["timepicker"].items() if k not in _LEGACY_TIMEPICKER
        }
    variables = out.get("templating", {}).get("list", [])
    for i, var in enumerate(variables):
        variables[i] = _current_variable(var)
    out["panels"] = [_current_panel(p) for p in out.get("panels", [])]
    return out
