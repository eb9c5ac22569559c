"""Parameters every endpoint shares, their checks, and the optional bearer token.

A wrong parameter raises :class:`~wastewatch.queries.errors.BadParameterError`,
which the app answers with 422 and one message naming the parameter.  Zone,
stream, bin and site values are looked up in their registries (bound
parameters) before a query runs, so an unknown or malicious value is a 422
that says what is known, never a query with a pasted value.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wastewatch.api.db import Database
from wastewatch.queries import (
    INSTANT_PATTERN,
    MONTH_PATTERN,
    BadParameterError,
    Filters,
    Page,
    Period,
    check_known,
    existing_query,
    registry_query,
    resolve_period,
    split_values,
)

__all__ = [
    "MAX_LIMIT",
    "Format",
    "check_exist",
    "database",
    "id_filters",
    "list_filters",
    "paging",
    "period_filter",
    "require_token",
]

MAX_LIMIT: Final = 1000
#: Registries too long to list in a message: where to look them up instead.
LOOK_UP: Final = {"bin": "/v1/bins", "truck": "/v1/routes/{date}"}
MAX_OFFSET: Final = 1_000_000
_INSTANT_FORM: Final = "YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.ffffff]][Z|+hh:mm]"

Format = Annotated[
    Literal["json", "csv"],
    Query(description="`csv` for a CSV download (one header line, UTF-8)"),
]
Order = Annotated[Literal["desc", "asc"], Query(description="newest first (desc) or oldest")]

bearer = HTTPBearer(
    auto_error=False,
    description="Needed only when the deployment sets WW_API_TOKEN: "
    "`Authorization: Bearer <token>`.",
)


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """With WW_API_TOKEN set, the request must carry it as a bearer token."""
    token: str | None = request.app.state.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def check_exist(db: Database, kind: str, param: str, values: tuple[str, ...]) -> None:
    """422 unless every value is in the registry of ``kind``."""
    if not values:
        return
    found = set(await db.fetch_column(existing_query(kind, values)))
    if len(found) < len(values):
        if kind in LOOK_UP:
            check_known(param, values, found, what=kind, hint=f"see {LOOK_UP[kind]}")
        known = await db.fetch_column(registry_query(kind))
        check_known(param, values, known, what=kind)


def paging(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page, at most {MAX_LIMIT}")
    ] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


IdList = Annotated[
    list[str] | None, Query(description="one or more ids: repeat the parameter or a,b,c")
]


async def id_filters(
    db: Annotated[Database, Depends(database)],
    zone: IdList = None,
    stream: Annotated[
        list[str] | None,
        Query(description="general, recyclable, organic, hazardous (repeat or a,b)"),
    ] = None,
    bin_id: IdList = None,
) -> Filters:
    """zone, stream and bin_id, each checked against its registry."""
    zones = split_values(zone, param="zone")
    streams = split_values(stream, param="stream")
    bins = split_values(bin_id, param="bin_id")
    await check_exist(db, "zone", "zone", zones)
    await check_exist(db, "stream", "stream", streams)
    await check_exist(db, "bin", "bin_id", bins)
    return Filters(zones=zones, streams=streams, bins=bins)


def _instant(alias: str, description: str) -> Any:
    """A query parameter that is an ISO 8601 date or time (``from``, ``to``)."""
    return Query(
        alias=alias,
        max_length=40,
        json_schema_extra={"pattern": INSTANT_PATTERN},
        description=description,
    )


def period_filter(
    start: Annotated[
        str | None,
        _instant(
            "from",
            "start, ISO 8601 (e.g. 2026-09-01 or 2026-09-01T08:00+07:00); a date "
            "alone is Bangkok midnight, a time without offset is Bangkok time; years "
            "1900..9998",
        ),
    ] = None,
    end: Annotated[
        str | None,
        _instant(
            "to", "end (exclusive), ISO 8601; a date alone includes that whole day; after `from`"
        ),
    ] = None,
    month: Annotated[
        str | None,
        Query(
            json_schema_extra={"pattern": MONTH_PATTERN},
            description="a Bangkok calendar month, YYYY-MM, 1900-01..9998-12 (instead of "
            "from/to or days)",
        ),
    ] = None,
    days: Annotated[
        int | None, Query(ge=1, le=3660, description="the last N days up to now")
    ] = None,
) -> Period:
    """from/to, or month, or days: at most one kind; none = no bound.

    The values are checked as the command line's are (the messages say what is wrong),
    then against the patterns ``/openapi.json`` documents, which are stricter (no
    ``2026-09-01 08:00``, no ``20260901``): what the API takes is what it documents.
    """
    period = resolve_period(
        start=start,
        end=end,
        month=month,
        days=days,
        now=datetime.now(UTC),
        names=("from", "to", "month", "days"),
    )
    for name, value, pattern, form in (
        ("from", start, INSTANT_PATTERN, _INSTANT_FORM),
        ("to", end, INSTANT_PATTERN, _INSTANT_FORM),
        ("month", month, MONTH_PATTERN, "YYYY-MM"),
    ):
        if value is not None and not re.fullmatch(pattern, value):
            raise BadParameterError(name, f"{value!r} is not written as {form}")
    return period


def list_filters(
    ids: Annotated[Filters, Depends(id_filters)],
    period: Annotated[Period, Depends(period_filter)],
) -> Filters:
    """The id filters and the period together."""
    return dataclasses.replace(ids, period=period)


def checked_id(value: str, *, param: str) -> str:
    """A path id: printable and of sane length, else 422."""
    if not value or len(value) > 128 or not value.isprintable():
        raise BadParameterError(param, "not an id")
    return value
