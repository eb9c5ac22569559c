"""Planners' questions as queries: shared by `wastewatch history`, the HTTP API and reports.

Pure code only: parameters are parsed and checked here (``params``), turned into
SQL whose values are always bound parameters and whose identifiers come from
allow-lists (``history``, ``queries``), and results are formatted here
(``formats``).  The callers own the connections, always the read-only role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.queries.errors import BadParameterError, DatabaseReadError
    from wastewatch.queries.formats import csv_text, jsonable, records, table_text
    from wastewatch.queries.history import GROUPINGS, PERIODS, HistoryRequest, history_query
    from wastewatch.queries.landfill import (
        Scenario,
        parse_divert_param,
        projection_dict,
        scenarios,
        what_if_dict,
    )
    from wastewatch.queries.params import (
        BANGKOK,
        INSTANT_PATTERN,
        MAX_YEAR,
        MIN_YEAR,
        MONTH_PATTERN,
        Period,
        check_known,
        month_period,
        resolve_period,
        split_values,
    )
    from wastewatch.queries.queries import (
        Filters,
        Page,
        Query,
        bin_query,
        existing_query,
        registry_query,
    )

__all__ = [
    "BANGKOK",
    "GROUPINGS",
    "INSTANT_PATTERN",
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_PATTERN",
    "PERIODS",
    "BadParameterError",
    "DatabaseReadError",
    "Filters",
    "HistoryRequest",
    "Page",
    "Period",
    "Query",
    "Scenario",
    "bin_query",
    "check_known",
    "csv_text",
    "existing_query",
    "history_query",
    "jsonable",
    "month_period",
    "parse_divert_param",
    "projection_dict",
    "records",
    "registry_query",
    "resolve_period",
    "scenarios",
    "split_values",
    "table_text",
    "what_if_dict",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
