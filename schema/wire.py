"""What the JSON text of an inbound message must satisfy beyond its model.

pydantic parses the bytes before it validates anything, and the parse hides
two things the models cannot see:

* **a key given twice**: the parser keeps the last value, so
  ``{"id":"B","id":"A"}`` is device ``A`` to us, while another reader of the
  same bytes may see ``B``.  Any repeated key, at any depth, is refused.
* **a number that underflows**: a non-zero literal too small for a double
  (``1e-400``) parses to ``0.0``, and a fill level of garbage would read as an
  empty bin.  Refused; subnormal numbers (``1e-310``) are representable, and
  what a model dumps for such a value, so they are kept.

What else a double cannot hold is refused by the models themselves: an
overflowing literal (``1e400``) parses to infinity, and ``NaN``/``Infinity``
literals are not JSON, both refused by ``allow_inf_nan=False`` and the ranges;
booleans and fractions in integer fields by strict mode (and the version field
by `wastewatch.schema.common.Version1`).

Cost.  Running an exact parser on every message would double the bridge's
cost per reading, so `wire_problem` first proves most messages clean from the
model it already has.  Each key occurrence in the text holds at least two
``"`` bytes, and so does each string value; a model validated in strict mode
holds one field per distinct key, and a ``str`` or date/time value only where
the text had a JSON string.  So a text without repeated keys has at least
``2 x (keys set + string values set)`` quote bytes, and a repeated key adds at
least two more: when the count is exactly that, no key is repeated anywhere
(a nested object could only hide in the value of a repeated key, since every
field that survives is a scalar).  An underflow parses to zero and needs a
negative exponent (``e-``) or a literal of at least 326 bytes, so only a message
with one of those and a float field at zero needs its numbers read.  Anything
else (an escaped quote, ``e-`` inside a device id, every ticket) goes through
the exact parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, get_args, get_origin

from pydantic import BaseModel

from wastewatch.errors import WastewatchError

__all__ = ["text_problem", "wire_problem"]


class _RefusedError(WastewatchError, ValueError):
    """Raised from inside the exact parse; never leaves this module."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RefusedError(f"duplicate key {key[:64]!r}: parsers differ on which counts")
            seen.add(key)
    return obj


_NONZERO_DIGITS: Final = frozenset("123456789")


def _float(text: str) -> float:
    value = float(text)
    if value == 0.0 and not _NONZERO_DIGITS.isdisjoint(text.lower().partition("e")[0]):
        raise _RefusedError(f"{text[:32]} underflows: a double holds this non-zero number as 0")
    return value


def _constant(name: str) -> float:
    raise _RefusedError(f"{name} is not a JSON number")


_EXACT: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_constant=_constant
)


def text_problem(payload: bytes) -> str | None:
    """Why the JSON text must be refused (a repeated key, an underflow), or None.

    Exact and slower than the model's own parse; `wire_problem` calls it only
    when the cheap proof fails.
    """
    try:
        _EXACT.decode(payload.decode("utf-8"))
    except _RefusedError as exc:
        return str(exc)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"not JSON to a strict parser: {exc}"[:200]
    return None


@dataclass(frozen=True, slots=True)
class _Spec:
    strings: tuple[str, ...]
    """Fields that hold a str (or enum of str) or a date/time, which only a JSON string gives."""
    floats: tuple[str, ...]
    """Fields that may hold a float."""


def _mentions(annotation: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, kinds)
    if get_origin(annotation) is not None:  # X | None, Annotated[X, ...], Literal[...]
        return any(_mentions(arg, kinds) for arg in get_args(annotation))
    return False


_SHORTEST_UNDERFLOW: Final = 326
"""Bytes of the shortest literal that underflows without a negative exponent: a non-zero
number under half the least double (2.47e-324) has 324 digits after the point."""

_SPECS: dict[type[BaseModel], _Spec] = {}
_STRING_VALUES: Final = (str, date)


def _spec(model: type[BaseModel]) -> _Spec:
    spec = _SPECS.get(model)
    if spec is None:
        fields = model.model_fields
        spec = _SPECS[model] = _Spec(
            strings=tuple(n for n, f in fields.items() if _mentions(f.annotation, _STRING_VALUES)),
            floats=tuple(n for n, f in fields.items() if _mentions(f.annotation, (float,))),
        )
    return spec


def wire_problem(payload: bytes, model: BaseModel) -> str | None:
    """Why ``payload``, which ``model`` was validated from (strict, from JSON), must be
    refused all the same; None when it is clean.  About 0.5 us for a clean reading
    (the 2-core development machine), against about 3 us for the model's own validation."""
    spec = _SPECS.get(type(model)) or _spec(type(model))
    values = model.__dict__
    fields_set = model.__pydantic_fields_set__
    quotes = 2 * len(fields_set)
    for name in spec.strings:
        if name in fields_set and isinstance(values[name], _STRING_VALUES):
            quotes += 2
    if payload.count(b'"') == quotes:
        for name in spec.floats:
            if values[name] == 0.0:  # zero, or a non-zero literal that underflowed
                break
        else:
            return None
        if len(payload) < _SHORTEST_UNDERFLOW and b"e-" not in payload and b"E-" not in payload:
            return None
    return text_problem(payload)
