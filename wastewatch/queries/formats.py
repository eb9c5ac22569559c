"""Rows as a text table, CSV or JSON-ready values.

Times are shown in Asia/Bangkok with their offset (ISO 8601), so a value is
unambiguous and still reads as local time.  CSV text cells that a spreadsheet
would take for a formula (``=``, ``+``, ``-``, ``@``) get a leading apostrophe:
bin names and addresses are edited by people, and the CSV is an Open Data file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from wastewatch.queries.params import BANGKOK

__all__ = ["csv_text", "jsonable", "records", "table_text"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def jsonable(value: Any) -> Any:
    """A database value as JSON: Bangkok ISO times, floats for decimals, NaN as null."""
    if isinstance(value, datetime):
        return value.astimezone(BANGKOK).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def records(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts keyed by column."""
    return [{c: jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def _cell(value: Any) -> str:
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _shown(value: Any) -> str:
    if isinstance(value, float | Decimal):
        v = float(value)
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3f}"
    if isinstance(value, datetime):
        return value.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")
    return _cell(value)


def table_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned plain-text table; numbers right-aligned."""
    body = [list(r) for r in rows]
    cells = [[_shown(v) for v in r] for r in body]
    widths = [len(c) for c in columns]
    for r in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, r, strict=True)]
    numeric = [
        bool(body) and all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in body)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
