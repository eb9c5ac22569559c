"""The values Grafana gives a board's template variables, read from the database.

Grafana fills an SQL variable by running its query (``__value``/``__text``
columns) for the picked time range, with the variables before it already
interpolated.  When a board opens with nothing saved in the URL it selects
"All" for an include-all variable (sent to the SQL as its custom all value, as
written, when it has one, else as every option, quoted: ``'a','b'``), the first
option for any other query variable, and the default of a custom variable.
``tests/test_grafana_queries.py`` and ``bench dashboards`` both run the panels
with these values, so what they time and check is what an operator's first look
at the board sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from wastewatch.grafana.board import CustomVariable, Variable
from wastewatch.grafana.errors import DashboardError
from wastewatch.grafana.macros import TimeRange, VariableValue, expand

__all__ = ["opening_values", "options"]


def options(
    conn: psycopg.Connection[Any],
    var: Variable,
    time_range: TimeRange,
    chosen: Mapping[str, VariableValue],
) -> list[str]:
    """The ``__value`` of every option of ``var``, as Grafana lists them."""
    cur = conn.execute(expand(var.sql, time_range=time_range, variables=chosen))
    names = [c.name for c in cur.description or ()]
    if names != ["__value", "__text"]:
        raise DashboardError(f"variable ${var.name} must return __value, __text, not {names}")
    return [str(row[0]) for row in cur.fetchall()]


def opening_values(
    conn: psycopg.Connection[Any],
    variables: Sequence[Variable | CustomVariable],
    time_range: TimeRange,
    chosen: Mapping[str, VariableValue] | None = None,
) -> dict[str, VariableValue]:
    """Every variable's value when the board opens; ``chosen`` ones are kept as given.

    A query variable without options is left out, so a panel that uses it fails
    in :func:`wastewatch.grafana.macros.expand` with the variable's name.
    """
    values: dict[str, VariableValue] = dict(chosen or {})
    for var in variables:
        if var.name in values:
            continue
        if isinstance(var, CustomVariable):
            values[var.name] = var.default
            continue
        if var.include_all and var.all_value is not None:
            values[var.name] = var.all_value  # inserted as written, like Grafana does
            continue
        found = options(conn, var, time_range, values)
        if var.include_all:
            values[var.name] = found
        elif found:
            values[var.name] = [found[0]] if var.multi else found[0]
    return values
