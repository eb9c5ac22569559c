"""The planners' read-only HTTP API: bins, readings, collections, history, alerts,
landfill (with what-if), routes, and an NGSI-LD WasteContainer export.

Delivery semantics: none to state; it only reads, through the read-only role,
in read-only transactions (see :mod:`wastewatch.api.db`).  Every list is paged
(``limit`` ≤ 1000, ``offset``) and can be downloaded as CSV (``format=csv``).
Bad parameters are answered 422 with a message naming the parameter; a
database that is down or too slow is 503; nothing a request sends reaches SQL
except as a bound parameter.  Every error has one body, :class:`models.Error`
(``detail``, and for a 422 ``parameter`` or ``errors``), and ``/openapi.json``
documents it for each status an operation can answer (401, 404, 422, 503), with
the patterns path parameters must match.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any, Final, Literal

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from psycopg_pool import PoolTimeout

from wastewatch.api import models
from wastewatch.api.db import Database
from wastewatch.api.deps import (
    Format,
    IdList,
    Order,
    check_exist,
    checked_id,
    database,
    id_filters,
    list_filters,
    paging,
    period_filter,
    require_token,
)
from wastewatch.api.errors import ApiConfigError
from wastewatch.api.ngsi import ENTITY_PREFIX, waste_container
from wastewatch.api.ngsi_ld import NgsiLdRoute
from wastewatch.api.ngsi_ld import router as ngsi_ld_router
from wastewatch.core import Settings, load_settings
from wastewatch.queries import (
    MAX_YEAR,
    MIN_YEAR,
    BadParameterError,
    HistoryRequest,
    Period,
    csv_text,
    history_query,
    jsonable,
    parse_divert_param,
    records,
    scenarios,
    split_values,
    what_if_dict,
)
from wastewatch.queries import queries as q
from wastewatch.schema import BIN_ID_PATTERN, TelemetryFlag

log = logging.getLogger(__name__)

DB = Annotated[Database, Depends(database)]
Filters = Annotated[q.Filters, Depends(list_filters)]
IdFilters = Annotated[q.Filters, Depends(id_filters)]
PeriodDep = Annotated[Period, Depends(period_filter)]
PageDep = Annotated[q.Page, Depends(paging)]
LD_JSON: Final = "application/ld+json"
_REF: Final = "#/components/schemas/{model}"
_KIND: Final = re.compile(r"^[a-z_]{1,40}$")
_UNSAFE_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]")
#: OpenAPI: lists also answer `format=csv`.
CSV: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
#: OpenAPI: the statuses every /v1 operation can answer, all with the one error body.
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {
        "model": models.Error,
        "description": "WW_API_TOKEN is set and the bearer token is missing or wrong",
    },
    422: {
        "model": models.Error,
        "description": "a parameter is wrong; `detail` says which and why",
    },
    503: {"model": models.Error, "description": "the database is down or the query took too long"},
}
NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": models.Error, "description": "no such bin"}
}
#: A bin id as the registry makes them (a lower-case slug); documented and enforced.
BinIdPath = Annotated[
    str, Path(pattern=BIN_ID_PATTERN, max_length=64, description="the bin id, e.g. kls-0001")
]
#: A service day, YYYY-MM-DD; a date outside the calendar (2026-02-30) is a 422.
SERVICE_DATE_PATTERN: Final = (
    r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
)

DESCRIPTION = """\
Read-only access to wastewatch's data for planners and the city's Open Data platform
(Kalasin Town Municipality, เทศบาลเมืองกาฬสินธุ์).

* Times are ISO 8601. In parameters a date alone is Asia/Bangkok midnight (as `to`, the
  whole day is included); responses show Asia/Bangkok times with their offset.
* Fill levels are fractions 0..1; volumes in litres; masses in kg (estimated from volume
  unless weighed at the landfill); airspace in m³.
* Lists are paged (`limit` ≤ 1000, `offset`; `next_offset` is null on the last page) and
  `format=csv` downloads the same rows as CSV.
* Filters `zone`, `stream`, `bin_id` take one or more ids (repeat the parameter or
  comma-separate); unknown ids are a 422 listing known ones (see `/v1/zones`, `/v1/streams`).
* When the deployment sets `WW_API_TOKEN`, send `Authorization: Bearer <token>`
  (`/openapi.json` and `/healthz` are open).
"""

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=ERRORS)


def _page_of(rows: list[tuple[Any, ...]], page: q.Page) -> tuple[list[tuple[Any, ...]], int | None]:
    """The page's rows and the next offset (the query fetched one row more)."""
    if len(rows) > page.limit:
        return rows[: page.limit], page.offset + page.limit
    return rows, None


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], name: str) -> Response:
    safe = _UNSAFE_FILENAME.sub("_", name)
    return Response(
        csv_text(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )


def _listing(
    query: q.Query,
    rows: list[tuple[Any, ...]],
    page: q.Page,
    fmt: str,
    name: str,
    extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Response:
    rows, next_offset = _page_of(rows, page)
    if fmt == "csv":
        response = _csv(query.columns, rows, name)
        if next_offset is not None:
            response.headers["X-Next-Offset"] = str(next_offset)
        return response
    items = records(query.columns, rows)
    if extra is not None:
        items = [extra(i) for i in items]
    return JSONResponse(
        {
            "items": items,
            "count": len(items),
            "limit": page.limit,
            "offset": page.offset,
            "next_offset": next_offset,
        }
    )


async def _unpaged(db: Database, query: q.Query, format: Format, name: str) -> Response:
    """A short list read whole (zones, streams), as JSON records or as ``<name>.csv``."""
    rows = await db.fetch(query)
    if format == "csv":
        return _csv(query.columns, rows, name)
    return JSONResponse(records(query.columns, rows))


@router.get("/zones", response_model=list[models.Zone], summary="Collection zones", responses=CSV)
async def zones(db: DB, format: Format = "json") -> Response:
    return await _unpaged(db, q.zones_query(), format, "zones")


@router.get("/streams", response_model=list[models.Stream], summary="Waste streams", responses=CSV)
async def streams(db: DB, format: Format = "json") -> Response:
    return await _unpaged(db, q.streams_query(), format, "streams")


@router.get(
    "/bins",
    response_model=models.Listing[models.Bin],
    summary="Bins with their current state",
    responses=CSV,
    description="The bin registry with each bin's latest fill, fill rate, urgency and "
    "predicted collection deadline (the processors' `bin_state`) and open alert kinds.",
)
async def bins(
    db: DB,
    f: IdFilters,
    page: PageDep,
    urgency: Annotated[
        list[Literal["overflowing", "urgent", "soon", "fine"]] | None,
        Query(description="only bins in these urgency classes"),
    ] = None,
    sort: Annotated[
        Literal["bin_id", "zone", "fill_level", "collect_by", "urgency"],
        Query(description="order of the list"),
    ] = "bin_id",
    active_only: Annotated[bool, Query(description="leave out retired bins")] = False,
    format: Format = "json",
) -> Response:
    query = q.bins_query(
        f, page, sort=sort, urgencies=tuple(urgency or ()), active_only=active_only
    )
    return _listing(query, await db.fetch(query), page, format, "bins")


async def _bin_exists(db: DB, bin_id: str) -> bool:
    return bool(await db.fetch(q.existing_query("bin", [bin_id])))


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"detail": what}, status_code=404)


@router.get(
    "/bins/{bin_id}",
    response_model=models.BinDetail,
    summary="One bin: registry, current state, recent collections",
    responses=NOT_FOUND,
)
async def bin_detail(db: DB, bin_id: BinIdPath) -> Response:
    bin_id = checked_id(bin_id, param="bin_id")
    query = q.bin_query(bin_id)
    rows = await db.fetch(query)
    if not rows:
        return _not_found(f"no bin {bin_id!r}")
    item = records(query.columns, rows)[0]
    recent = q.collections_query(q.Filters(bins=(bin_id,)), q.Page(limit=10))
    item["recent_collections"] = records(recent.columns, (await db.fetch(recent))[:10])
    return JSONResponse(item)


def _with_flag_names(item: dict[str, Any]) -> dict[str, Any]:
    bits = int(item["flags"])
    names = [flag.name for flag in TelemetryFlag if flag.name and flag.value and bits & flag.value]
    return {**item, "flag_names": names}


@router.get(
    "/bins/{bin_id}/readings",
    response_model=models.Listing[models.Reading],
    summary="A bin's sensor readings",
    responses={**CSV, **NOT_FOUND},
)
async def bin_readings(
    db: DB,
    bin_id: BinIdPath,
    period: PeriodDep,
    page: PageDep,
    order: Order = "desc",
    format: Format = "json",
) -> Response:
    bin_id = checked_id(bin_id, param="bin_id")
    if not await _bin_exists(db, bin_id):
        return _not_found(f"no bin {bin_id!r}")
    query = q.readings_query(bin_id, period, page, order=order)
    return _listing(
        query, await db.fetch(query), page, format, f"readings-{bin_id}", _with_flag_names
    )


@router.get(
    "/collections",
    response_model=models.Listing[models.Collection],
    summary="Detected bin emptyings",
    responses=CSV,
)
async def collections(
    db: DB, f: Filters, page: PageDep, order: Order = "desc", format: Format = "json"
) -> Response:
    query = q.collections_query(f, page, order=order)
    return _listing(query, await db.fetch(query), page, format, "collections")


@router.get(
    "/history",
    response_model=models.Listing[models.HistoryRow],
    summary="Collections and fill per day, week or month",
    responses=CSV,
    description="What `wastewatch history` prints: per Asia/Bangkok period and group, the "
    "collections (count, litres, estimated kg, average fill when collected) and the fill "
    "statistics (average, highest, bin-hours at or above 0.98).",
)
async def history(
    db: DB,
    f: Filters,
    page: PageDep,
    per: Annotated[Literal["day", "week", "month"], Query(description="period length")] = "day",
    by: Annotated[
        Literal["zone", "stream", "bin", "city"],
        Query(description="one row per period and zone+stream, stream, bin or city"),
    ] = "zone",
    format: Format = "json",
) -> Response:
    req = HistoryRequest(
        per=per, by=by, period=f.period, zones=f.zones, streams=f.streams, bins=f.bins
    )
    query = history_query(req, page)
    return _listing(query, await db.fetch(query), page, format, f"history-{per}")


@router.get("/alerts", response_model=models.Listing[models.Alert], summary="Alerts", responses=CSV)
async def alerts(
    db: DB,
    f: Filters,
    page: PageDep,
    kind: Annotated[
        list[str] | None,
        Query(
            description="fire, tipped_over, overflowing, low_battery, sensor_fault, offline, "
            "landfill_capacity, ..."
        ),
    ] = None,
    severity: Annotated[list[Literal["info", "warning", "critical"]] | None, Query()] = None,
    state: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    site: IdList = None,
    order: Order = "desc",
    format: Format = "json",
) -> Response:
    kinds = split_values(kind, param="kind")
    for k in kinds:
        if not _KIND.match(k):
            raise BadParameterError("kind", f"{k!r} is not an alert kind (lower case and _)")
    sites = split_values(site, param="site")
    await check_exist(db, "site", "site", sites)
    query = q.alerts_query(
        f,
        page,
        kinds=kinds,
        severities=tuple(severity or ()),
        states=(state,) if state else (),
        sites=sites,
        order=order,
    )
    return _listing(query, await db.fetch(query), page, format, "alerts")


@router.get(
    "/landfill",
    response_model=models.LandfillSites,
    summary="Landfill sites: remaining airspace and projected full date",
    responses=CSV,
)
async def landfill(db: DB, site: IdList = None, format: Format = "json") -> Response:
    sites = split_values(site, param="site")
    await check_exist(db, "site", "site", sites)
    query = q.landfill_query(sites)
    rows = await db.fetch(query)
    if format == "csv":
        return _csv(query.columns, rows, "landfill")
    return JSONResponse({"items": records(query.columns, rows)})


@router.get(
    "/landfill/what-if",
    response_model=models.WhatIf,
    summary="How the full date moves if shares of streams are diverted",
    description="The landfill processor's projection recomputed with `divert` applied to "
    "each stream's future inflow (what is in the ground stays), as "
    "`wastewatch landfill what-if` does.",
)
async def landfill_what_if(
    request: Request,
    db: DB,
    divert: Annotated[
        str,
        Query(
            max_length=400,
            description="STREAM=SHARE pairs, shares 0..1, e.g. recyclable=0.3,organic=0.5",
        ),
    ],
    site: IdList = None,
) -> Response:
    known = await db.fetch_column(q.registry_query("stream"))
    shares = parse_divert_param(divert, known, param="divert")
    sites = split_values(site, param="site")
    await check_exist(db, "site", "site", sites)
    async with db.pool.connection() as conn:
        found = await scenarios(
            conn, window_days=request.app.state.window_days, divert=shares, sites=sites
        )
    return JSONResponse(
        {"divert": shares, "what_if": [jsonable(what_if_dict(s, shares)) for s in found]}
    )


@router.get(
    "/routes/{service_date}",
    response_model=models.Routes,
    summary="The route plans in force for a service day",
    responses=CSV,
    description="Per truck, the latest plan for that Asia/Bangkok day, with its stops in "
    "visiting order. `format=csv` gives one row per stop.",
)
async def routes(
    db: DB,
    service_date: Annotated[
        str,
        Path(
            description=f"YYYY-MM-DD, years {MIN_YEAR}..{MAX_YEAR}",
            json_schema_extra={"format": "date", "pattern": SERVICE_DATE_PATTERN},
        ),
    ],
    stream: IdList = None,
    truck: IdList = None,
    format: Format = "json",
) -> Response:
    try:
        if not re.fullmatch(SERVICE_DATE_PATTERN, service_date):
            raise ValueError(service_date)  # noqa: TRY301
        day = date.fromisoformat(service_date)
    except ValueError:
        raise BadParameterError(
            "service_date", f"{service_date!r} is not a date; expected YYYY-MM-DD, years 1900..9998"
        ) from None
    streams = split_values(stream, param="stream")
    trucks = split_values(truck, param="truck")
    await check_exist(db, "stream", "stream", streams)
    await check_exist(db, "truck", "truck", trucks)
    plans_q = q.route_plans_query(day, streams=streams, trucks=trucks)
    plans = records(plans_q.columns, await db.fetch(plans_q))
    stops_q = q.route_stops_query([p["plan_id"] for p in plans])
    stop_rows = await db.fetch(stops_q) if plans else []
    if format == "csv":
        by_plan = {p["plan_id"]: p for p in plans}
        columns = (*plans_q.columns[:4], *stops_q.columns[1:])
        rows = [
            (*(by_plan[r[0]][c] for c in plans_q.columns[:4]), *r[1:])
            for r in stop_rows
            if r[0] in by_plan
        ]
        return _csv(columns, rows, f"routes-{day.isoformat()}")
    stops: dict[str, list[dict[str, Any]]] = {}
    for item in records(stops_q.columns, stop_rows):
        stops.setdefault(item.pop("plan_id"), []).append(item)
    for p in plans:
        p["stops"] = stops.get(p["plan_id"], [])
    return JSONResponse({"service_date": day.isoformat(), "plans": plans})


Options = Annotated[
    Literal["normalized", "keyValues"],
    Query(description="NGSI-LD representation: normalized (default) or keyValues"),
]


@router.get(
    "/ngsi-ld/WasteContainer",
    summary="The bins as NGSI-LD WasteContainer entities (FIWARE smart-data-models)",
    response_description="A JSON-LD array of entities",
    responses={200: {"content": {LD_JSON: {}}}},
)
async def ngsi_containers(
    db: DB, f: IdFilters, page: PageDep, options: Options = "normalized"
) -> Response:
    query = q.bins_query(f, page)
    rows, next_offset = _page_of(await db.fetch(query), page)
    body = [
        waste_container(dict(zip(query.columns, r, strict=True)), key_values=options == "keyValues")
        for r in rows
    ]
    headers = {"X-Next-Offset": str(next_offset)} if next_offset is not None else {}
    return JSONResponse(body, media_type=LD_JSON, headers=headers)


@router.get(
    "/ngsi-ld/WasteContainer/{entity_id}",
    summary="One bin as an NGSI-LD WasteContainer entity",
    responses={
        200: {"content": {LD_JSON: {}}},
        404: {"model": models.Error, "description": "no such bin"},
    },
)
async def ngsi_container(
    db: DB,
    entity_id: Annotated[
        str,
        Path(
            max_length=200,
            pattern=f"^({ENTITY_PREFIX})?{BIN_ID_PATTERN.removeprefix('^')}",
            description="urn:ngsi-ld:WasteContainer:<bin_id> or the bin id",
        ),
    ],
    options: Options = "normalized",
) -> Response:
    bin_id = checked_id(entity_id.removeprefix(ENTITY_PREFIX), param="entity_id")
    query = q.bin_query(bin_id)
    rows = await db.fetch(query)
    if not rows:
        return _not_found(f"no WasteContainer {entity_id!r}")
    entity = waste_container(
        dict(zip(query.columns, rows[0], strict=True)), key_values=options == "keyValues"
    )
    return JSONResponse(entity, media_type=LD_JSON)


def _one_line(errors: Sequence[Any]) -> str:
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadParameterError)
    async def bad_parameter(_: Request, exc: BadParameterError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "parameter": exc.param}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        return JSONResponse(
            {"detail": _one_line(errors), "errors": jsonable_encoder(errors)}, status_code=422
        )

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def too_slow(_: Request, exc: psycopg.Error) -> JSONResponse:
        log.warning("query cancelled: %s", exc)
        return JSONResponse(
            {"detail": "the query took longer than allowed; narrow the period or the filters"},
            status_code=503,
        )

    @app.exception_handler(psycopg.DataError)
    async def out_of_range(_: Request, exc: psycopg.Error) -> JSONResponse:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return JSONResponse({"detail": f"a parameter is out of range: {first}"}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse({"detail": "the database is unavailable"}, status_code=503)


_ERROR_REF: Final = "#/components/schemas/Error"


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }


def _document_errors(app: FastAPI) -> None:
    """``/openapi.json`` with every error an operation can answer, in the body it has.

    The /v1 routes document theirs (``ERRORS``, ``NOT_FOUND``); this fills in the others:
    a bearer-token 401 and a database 503 (:class:`models.Error`, from this app's
    handlers) wherever they can happen, and drops FastAPI's stock 422
    (``HTTPValidationError``) where the route answers parameter errors otherwise (the
    NGSI-LD API: 400 ProblemDetails), so no operation documents a body it never sends.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        own_422 = {
            (r.path, method.lower())
            for r in app.routes
            if isinstance(r, APIRoute) and not isinstance(r, NgsiLdRoute)
            for method in r.methods or ()
        }
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                stock = responses.get("422", {}).get("content", {}).get("application/json", {})
                if stock.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    if (path, method) in own_422:
                        responses["422"] = _error_response(ERRORS[422]["description"])
                    else:
                        del responses["422"]
                if op.get("security"):
                    responses.setdefault("401", _error_response(ERRORS[401]["description"]))
                if path != "/healthz":
                    responses.setdefault("503", _error_response(ERRORS[503]["description"]))
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Error", models.Error.model_json_schema(ref_template=_REF))
        text = json.dumps(schema["paths"])
        for unused in ("HTTPValidationError", "ValidationError"):
            if f"/{unused}" not in text and f"/{unused}" not in json.dumps(components):
                components.pop(unused, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on ``settings.db.reader_dsn`` (required: the API never uses another role)."""
    settings = settings or load_settings()
    dsn = settings.db.reader_dsn
    if not dsn:
        raise ApiConfigError(
            "WW_DB_READER_DSN is not set: the API reads only through the read-only role "
            "(`wastewatch services env` shows it for the local stack)"
        )
    db = Database(
        dsn,
        max_size=settings.api.pool_max_size,
        statement_timeout_ms=settings.api.statement_timeout_ms,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with db:
            yield

    app = FastAPI(
        title="wastewatch planners' API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.token = settings.api.token.get_secret_value() if settings.api.token else None
    app.state.window_days = settings.processors.landfill_window_days
    _install_handlers(app)

    @app.get(
        "/healthz",
        response_model=models.Health,
        summary="Liveness and database check",
        responses={503: {"model": models.Health, "description": "the database is down"}},
    )
    async def healthz(db: DB) -> Response:
        try:
            await db.fetch(q.Query("select 1", {}))
        except (psycopg.Error, PoolTimeout):
            return JSONResponse({"status": "degraded", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.include_router(router)
    app.include_router(ngsi_ld_router)
    _document_errors(app)
    return app


__all__ = ["create_app", "router"]
