"""How a command prints its result: a table for people, or with ``--json`` one JSON
object as the last line of stdout (compact, for scripts; progress goes to stderr)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

R = TypeVar("R")


def print_json(doc: Any) -> None:
    """One JSON object on one line (UTF-8 as it is; what JSON cannot hold as a string)."""
    print(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str))


def print_result(result: R, *, as_json: bool, table: Callable[[R], str]) -> None:
    """``result`` as one JSON line when ``as_json``, else as ``table(result)``."""
    if as_json:
        print_json(result)
    else:
        print(table(result))


def aligned(rows: Iterable[tuple[str, Any]], *, width: int | None = None, gap: str = "  ") -> str:
    """Name-value lines, the names padded to ``width`` (default: the longest name)."""
    rows = list(rows)
    if width is None:
        width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name:<{width}}{gap}{value}" for name, value in rows)
