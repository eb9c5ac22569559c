"""The NGSI-LD API read path (ETSI GS CIM 009): the bins as ``WasteContainer`` and
their container models as ``WasteContainerModel`` entities.

* ``GET /ngsi-ld/v1/entities?type=WasteContainer`` (or ``WasteContainerModel``, both
  comma-separated, short names or the models' full type URIs), optionally ``id=`` a
  comma-separated list of entity ids; ``options=keyValues`` (or ``simplified``) for
  the simplified form, normalized otherwise (``format=`` as in NGSI-LD 1.8 too).
* Pagination as NGSI-LD does it: ``limit`` (default 20, at most 1000: more is 403
  ``TooManyResults``), ``offset``, ``count=true`` for the ``NGSILD-Results-Count``
  header; ``Link`` headers ``rel="next"`` / ``rel="prev"`` (RFC 8288) give the
  neighbouring pages.  Entities come ordered by id, so pages neither skip nor repeat.
  ``limit=0`` answers ``[]`` (with the count when asked; the standard asks for
  ``count=true`` with it, we do not refuse it without).
* ``Accept: application/json`` (or none, or ``*/*``): plain JSON, the @context in a
  ``Link`` header (``rel="http://www.w3.org/ns/json-ld#context"``); ``Accept:
  application/ld+json``: the ``@context`` in each entity.  Anything else is 406.
* ``GET /ngsi-ld/v1/entities/{entityId}``: one entity; 404 ``ResourceNotFound``.
* Errors are ProblemDetails (RFC 7807) with the NGSI-LD error types
  (``https://uri.etsi.org/ngsi-ld/errors/BadRequestData``, ``ResourceNotFound``,
  ``TooManyResults``), never the planners' API's 422.

Only this read path is served: no writes, subscriptions, ``q``/``geoQ``/``attrs``
filters (asking for one is a 400 saying so), temporal or types endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from wastewatch.api.db import Database
from wastewatch.api.deps import database, require_token
from wastewatch.api.errors import ApiError
from wastewatch.api.ngsi import (
    CONTEXT_URL,
    ENTITY_PREFIX,
    MODEL_PREFIX,
    WASTE_CONTAINER,
    WASTE_CONTAINER_MODEL,
    model_of,
    waste_container,
    waste_container_model,
)
from wastewatch.queries import Page, bin_query
from wastewatch.queries import Query as SqlQuery
from wastewatch.queries import ngsi as nq

__all__ = ["MAX_LIMIT", "ProblemDetails", "router"]

BASE: Final = "/ngsi-ld/v1"
LD_JSON: Final = "application/ld+json"
JSON: Final = "application/json"
ERRORS: Final = "https://uri.etsi.org/ngsi-ld/errors/"
JSONLD_CONTEXT_REL: Final = "http://www.w3.org/ns/json-ld#context"
DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 1000
MAX_IDS: Final = 100
#: The models' type URIs, as the WasteManagement @context expands the short names.
TYPE_URIS: Final = {
    f"https://smartdatamodels.org/dataModel.WasteManagement/{t}": t
    for t in (WASTE_CONTAINER, WASTE_CONTAINER_MODEL)
}
#: NGSI-LD query parameters this export does not implement: refused, never ignored.
UNSUPPORTED: Final = (
    "q",
    "idPattern",
    "attrs",
    "pick",
    "omit",
    "geoQ",
    "georel",
    "geometry",
    "coordinates",
    "geoproperty",
    "csf",
    "scopeQ",
    "lang",
    "orderBy",
    "collect",
    "local",
    "join",
    "joinLevel",
    "containedBy",
    "datasetId",
    "expandValues",
    "entityMap",
)
#: A URI as the OpenAPI patterns document it (scheme, colon, no blanks).
_URI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_SLUG: Final = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
_OPTIONS: Final = {"keyValues": True, "simplified": True, "concise": None, "normalized": False}


class ProblemDetails(BaseModel):
    """An NGSI-LD error (RFC 7807 problem details)."""

    type: str
    title: str
    detail: str | None = None
    status: int | None = None


class NgsiLdError(ApiError):
    """An NGSI-LD request the API refuses; answered as ProblemDetails with its error type."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail

    def response(self) -> JSONResponse:
        kind = self.kind if self.kind.startswith("about:") else ERRORS + self.kind
        body = {"type": kind, "title": self.title, "detail": self.detail, "status": self.status}
        return JSONResponse(body, status_code=self.status, media_type=JSON)


def bad_request(detail: str) -> NgsiLdError:
    return NgsiLdError(400, "BadRequestData", "Bad request data", detail)


class NgsiLdRoute(APIRoute):
    """Parameter errors and this module's errors as NGSI-LD ProblemDetails (400, ...),
    not the planners' API's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                parts = []
                for e in exc.errors():
                    loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "path")]
                    parts.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'invalid')}")
                return bad_request("; ".join(parts)).response()
            except NgsiLdError as exc:
                return exc.response()

        return route


_PROBLEM: Final[dict[str, Any]] = {"model": ProblemDetails, "content": {JSON: {}}}
_NOT_ACCEPTABLE: Final[dict[str, Any]] = {
    **_PROBLEM,
    "description": "Accept names no JSON media type",
}
_ENTITY_SCHEMA: Final = {"type": "object", "additionalProperties": True}
_ENTITIES: Final[dict[str, Any]] = {
    "description": "The entities (a JSON array), the @context in a Link header (application/"
    "json) or in each entity (application/ld+json)",
    "content": {
        JSON: {"schema": {"type": "array", "items": _ENTITY_SCHEMA}},
        LD_JSON: {"schema": {"type": "array", "items": _ENTITY_SCHEMA}},
    },
}
_ENTITY: Final[dict[str, Any]] = {
    "description": "The entity",
    "content": {JSON: {"schema": _ENTITY_SCHEMA}, LD_JSON: {"schema": _ENTITY_SCHEMA}},
}

router = APIRouter(
    prefix=BASE,
    tags=["NGSI-LD"],
    route_class=NgsiLdRoute,
    dependencies=[Depends(require_token)],
)

DB = Annotated[Database, Depends(database)]
Options = Annotated[
    str | None,
    Query(
        max_length=100,
        pattern=r"^[A-Za-z]+(,[A-Za-z]+)*$",
        description="`keyValues` (or `simplified`) for the simplified form; `normalized` "
        "(the default). Comma-separated NGSI-LD options; others are refused.",
    ),
]
FormatParam = Annotated[
    str | None,
    Query(
        alias="format",
        pattern=r"^(keyValues|simplified|normalized)$",
        description="NGSI-LD 1.8's `format`: keyValues, simplified or normalized",
    ),
]


def _pick_media_type(request: Request) -> str:
    """application/json or application/ld+json by the Accept header (q-values honoured)."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for n, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        chosen = {
            LD_JSON: LD_JSON,
            JSON: JSON,
            "application/*": JSON,
            "*/*": JSON,
        }.get(media)
        if chosen is None or q <= 0:
            continue
        rank = (q, -n, chosen)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise NgsiLdError(
            406,
            "about:blank",
            "Not Acceptable",
            f"cannot answer {accept!r}: this API gives application/json or application/ld+json",
        )
    return best[2]


def _key_values(options: str | None, fmt: str | None) -> bool:
    kv = False
    for opt in (options or "").split(","):
        if not opt:
            continue
        if opt not in _OPTIONS or _OPTIONS[opt] is None:
            raise bad_request(
                f"options: {opt!r} is not supported; use keyValues (simplified) or normalized"
            )
        kv = kv or bool(_OPTIONS[opt])
    if fmt is not None:
        kv = fmt in ("keyValues", "simplified")
    return kv


def _reject_unsupported(request: Request) -> None:
    asked = [p for p in UNSUPPORTED if p in request.query_params]
    if asked:
        raise bad_request(
            f"{', '.join(asked)}: not supported by this read-only export; "
            "query by type (and id), with limit and offset"
        )


def _negotiate(request: Request, options: str | None, fmt: str | None) -> tuple[str, bool]:
    """The media type to answer in and whether to answer keyValues; 400 or 406 when
    the request asks for what this export does not give."""
    _reject_unsupported(request)
    return _pick_media_type(request), _key_values(options, fmt)


def _types(value: str) -> list[str]:
    out: list[str] = []
    for raw in value.split(","):
        t = TYPE_URIS.get(raw.strip(), raw.strip())
        if not t:
            raise bad_request("type: empty entity type")
        if t not in out:
            out.append(t)
    return out


def _ids(value: str | None) -> list[str]:
    if value is None:
        return []
    ids = [i.strip() for i in value.split(",")]
    if len(ids) > MAX_IDS:
        raise bad_request(f"id: at most {MAX_IDS} entity ids")
    for i in ids:
        if not _URI.match(i):
            raise bad_request(f"id: {i!r} is not a URI")
    return ids


@dataclass(frozen=True, slots=True)
class _Source:
    """One entity type's entities: how many match, and how to read a window of them."""

    etype: str
    keys: tuple[str, ...]

    def count_query(self) -> SqlQuery:
        if self.etype == WASTE_CONTAINER:
            return nq.waste_containers_count_query(self.keys)
        return nq.container_models_count_query(self.keys)

    def page_query(self, page: Page) -> SqlQuery:
        if self.etype == WASTE_CONTAINER:
            return nq.waste_containers_query(self.keys, page)
        return nq.container_models_query(self.keys, page)

    def entity(self, row: dict[str, Any], key_values: bool) -> dict[str, Any]:
        if self.etype == WASTE_CONTAINER:
            return waste_container(row, key_values=key_values)
        return waste_container_model(row, key_values=key_values)


def _sources(types: Sequence[str], ids: Sequence[str]) -> list[_Source]:
    """What to read for these types and ids; an id of another type matches nothing."""
    out = []
    for t in types:
        if t == WASTE_CONTAINER:
            keys = tuple(i.removeprefix(ENTITY_PREFIX) for i in ids if i.startswith(ENTITY_PREFIX))
        elif t == WASTE_CONTAINER_MODEL:
            keys = tuple(model_of(i) for i in ids if i.startswith(MODEL_PREFIX))
        else:
            continue  # a type no entity has: nothing, as a broker answers
        if ids and not keys:
            continue
        out.append(_Source(t, keys))
    return out


def _render(entities: list[dict[str, Any]], media: str) -> list[dict[str, Any]]:
    if media == LD_JSON:
        return entities
    return [{k: v for k, v in e.items() if k != "@context"} for e in entities]


def _respond(body: Any, media: str) -> JSONResponse:
    """``body`` as JSON in the negotiated media type, with the @context Link and Vary."""
    response = JSONResponse(body, media_type=media)
    if media == JSON:
        response.headers.append(
            "Link", f'<{CONTEXT_URL}>; rel="{JSONLD_CONTEXT_REL}"; type="{LD_JSON}"'
        )
    response.headers["Vary"] = "Accept"
    return response


def _page_link(request: Request, offset: int, limit: int, rel: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f'<{request.url.path}?{urlencode(params)}>; rel="{rel}"'


@router.get(
    "/entities",
    summary="Query entities (NGSI-LD): WasteContainer, WasteContainerModel",
    response_model=None,
    responses={
        200: _ENTITIES,
        400: {**_PROBLEM, "description": "BadRequestData"},
        403: {**_PROBLEM, "description": "TooManyResults: limit above 1000"},
        406: _NOT_ACCEPTABLE,
    },
)
async def query_entities(
    request: Request,
    db: DB,
    type: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="entity type(s), comma-separated: WasteContainer, WasteContainerModel",
        ),
    ],
    id: Annotated[
        str | None,
        Query(
            max_length=20_000,
            pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s,]+(,[A-Za-z][A-Za-z0-9+.\-]*:[^\s,]+)*$",
            description="entity ids (URIs), comma-separated",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=0,
            description="entities per page (at most 1000; more is 403 TooManyResults)",
            json_schema_extra={"maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    count: Annotated[
        bool, Query(description="`true`: the NGSILD-Results-Count header gives the total")
    ] = False,
    options: Options = None,
    fmt: FormatParam = None,
) -> Response:
    media, key_values = _negotiate(request, options, fmt)
    if limit > MAX_LIMIT:
        raise NgsiLdError(
            403,
            "TooManyResults",
            "Too many results",
            f"limit {limit} is above the maximum of {MAX_LIMIT}; page with limit and offset",
        )
    sources = _sources(_types(type), _ids(id))
    totals = [int((await db.fetch(s.count_query()))[0][0]) for s in sources]
    total = sum(totals)
    entities: list[dict[str, Any]] = []
    start, want = offset, limit
    for source, n in zip(sources, totals, strict=True):
        if want <= 0:
            break
        if start >= n:
            start -= n
            continue
        query = source.page_query(Page(limit=min(want, n - start), offset=start))
        rows = (await db.fetch(query))[: min(want, n - start)]
        for row in rows:
            entities.append(source.entity(dict(zip(query.columns, row, strict=True)), key_values))
        want -= len(rows)
        start = 0
    response = _respond(_render(entities, media), media)
    if count:
        response.headers["NGSILD-Results-Count"] = str(total)
    if limit > 0 and offset + limit < total:
        response.headers.append("Link", _page_link(request, offset + limit, limit, "next"))
    if limit > 0 and offset > 0:
        prev = max(0, offset - limit)
        response.headers.append("Link", _page_link(request, prev, min(limit, offset), "prev"))
    return response


@router.get(
    "/entities/{entityId}",
    summary="Retrieve one entity (NGSI-LD)",
    response_model=None,
    responses={
        200: _ENTITY,
        400: {**_PROBLEM, "description": "BadRequestData: the id is not a URI"},
        404: {**_PROBLEM, "description": "ResourceNotFound"},
        406: _NOT_ACCEPTABLE,
    },
)
async def retrieve_entity(
    request: Request,
    db: DB,
    entity_id: Annotated[
        str,
        Path(
            alias="entityId",
            max_length=300,
            pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$",
            description="the entity id, e.g. urn:ngsi-ld:WasteContainer:kls-0001",
        ),
    ],
    type: Annotated[str | None, Query(max_length=500, description="expected type(s)")] = None,
    options: Options = None,
    fmt: FormatParam = None,
) -> Response:
    media, key_values = _negotiate(request, options, fmt)
    ids = _ids(entity_id)
    types = _types(type) if type else [WASTE_CONTAINER, WASTE_CONTAINER_MODEL]
    entity: dict[str, Any] | None = None
    for source in _sources(types, ids):
        key = source.keys[0]
        if source.etype == WASTE_CONTAINER:
            if not _SLUG.match(key):
                continue
            query = bin_query(key)
        else:
            query = source.page_query(Page(limit=1))
        rows = await db.fetch(query)
        if rows:
            entity = source.entity(dict(zip(query.columns, rows[0], strict=True)), key_values)
            break
    if entity is None:
        raise NgsiLdError(404, "ResourceNotFound", "Resource not found", f"no entity {entity_id!r}")
    return _respond(_render([entity], media)[0], media)
