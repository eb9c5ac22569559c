"""Response shapes, for the OpenAPI document (``/openapi.json``).

Endpoints build their JSON from query rows directly (no second pass through
pydantic on a hot path); a test validates real responses against these models
with unknown keys forbidden, so the document cannot drift from what is sent.
Times are ISO 8601 with the Asia/Bangkok offset; fill levels are fractions 0..1.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Listing(_Strict, Generic[T]):
    """One page of a list."""

    items: list[T]
    count: int = Field(description="items on this page")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class Zone(_Strict):
    zone_id: str
    name_en: str
    name_th: str
    bins: int


class Stream(_Strict):
    stream: str
    name_en: str
    name_th: str
    density_kg_per_m3: float = Field(description="assumed loose density in a bin")
    bins: int


class Bin(_Strict):
    bin_id: str
    device_id: str | None
    name: str | None
    address: str | None
    zone_id: str | None
    stream: str
    latitude: float
    longitude: float
    volume_l: float
    container_model: str | None
    collection_threshold: float
    active: bool
    installed_at: str | None
    fill_level: float | None = Field(description="latest trusted fill level, 0..1")
    rate_per_h: float | None = Field(description="current rise of the fill level per hour")
    urgency: str | None = Field(description="overflowing, urgent, soon, fine")
    threshold_at: str | None = Field(description="predicted time the threshold is reached")
    collect_by: str | None = Field(description="latest collection that stays under it")
    last_reading_at: str | None
    last_collection_at: str | None
    open_alerts: list[str] = Field(description="kinds of the bin's open alerts")


class Collection(_Strict):
    time: str
    event_id: str
    bin_id: str
    device_id: str | None
    zone_id: str | None
    stream: str
    fill_before: float
    fill_after: float
    volume_l: float
    mass_kg: float = Field(description="estimated: volume x the stream's loose density")
    method: str
    confidence: float


class BinDetail(Bin):
    recent_collections: list[Collection]


class Reading(_Strict):
    time: str
    fill_level: float | None
    distance_mm: int | None
    temperature_c: float | None
    battery_mv: int | None
    rssi_dbm: int | None
    flags: int
    flag_names: list[str] = Field(description="names of the TelemetryFlag bits set")
    device_id: str
    boot_counter: int
    seq: int


class HistoryRow(_Strict):
    period: str = Field(description="first day of the period (weeks start on Monday)")
    bin_id: str | None = None
    zone_id: str | None = None
    stream: str | None = None
    collections: int
    volume_l: float
    mass_kg: float
    fill_at_collection: float | None
    fill_avg: float | None
    fill_max: float | None
    overflow_hours: int = Field(description="bin-hours at or above 0.98 full")
    bins_reporting: int
    readings: int


class Alert(_Strict):
    alert_id: str
    kind: str
    severity: str
    state: str
    bin_id: str | None
    device_id: str | None
    site_id: str | None
    zone_id: str | None
    stream: str | None
    opened_at: str
    resolved_at: str | None
    message_en: str
    message_th: str
    details: dict[str, Any]


class LandfillSite(_Strict):
    site_id: str
    name: str
    latitude: float
    longitude: float
    capacity_m3: float
    surveyed_on: str
    as_of: str | None
    used_m3: float | None
    remaining_m3: float | None
    fill_fraction: float | None
    rate_m3_per_day: float | None
    rate_low_m3_per_day: float | None
    rate_high_m3_per_day: float | None
    days_left: float | None
    full_date: str | None
    full_date_early: str | None
    full_date_late: str | None
    window_days: int | None
    rate_by_stream_m3_per_day: dict[str, float] | None


class LandfillSites(_Strict):
    items: list[LandfillSite]


class Projection(_Strict):
    site_id: str
    as_of: str
    used_m3: float
    remaining_m3: float
    fill_fraction: float
    rate_m3_per_day: float
    rate_interval_m3_per_day: list[float]
    days_left: float | None
    full_date: str | None
    full_date_interval: list[str | None]
    rate_by_stream_m3_per_day: dict[str, float]


class WhatIfSite(_Strict):
    site_id: str
    divert: dict[str, float]
    full_date: str | None
    full_date_with_diversion: str | None
    days_gained: int | None
    baseline: Projection
    with_diversion: Projection | None


class WhatIf(_Strict):
    divert: dict[str, float]
    what_if: list[WhatIfSite]


class Stop(_Strict):
    sequence: int
    bin_id: str
    visit: int = Field(
        description="1 for the bin's first visit on this route, 2 for the repeat visit the "
        "same truck makes after the bin refilled (market bins)"
    )
    eta: str
    expected_load_l: float
    expected_load_kg: float
    distance_from_previous_km: float
    unload_after: bool
    latitude: float | None
    longitude: float | None
    name: str | None


class RoutePlan(_Strict):
    plan_id: str
    service_date: str
    truck_id: str
    waste_stream: str
    revision: int
    created_at: str
    total_distance_km: float
    total_duration_s: int
    expected_load_l: float
    expected_load_kg: float
    solver_status: str
    fill_source: str
    distance_source: str
    notes: list[str]
    stops: list[Stop]


class Routes(_Strict):
    service_date: str
    plans: list[RoutePlan]


class Health(_Strict):
    status: str
    database: str


class FieldError(BaseModel):
    """One parameter that failed validation (pydantic's error, JSON-encoded)."""

    model_config = ConfigDict(extra="allow")

    type: str
    loc: list[str | int] = Field(description="where: `query`/`path`/`header` and the name")
    msg: str


class Error(_Strict):
    """The body of every error the planners' API answers (401, 404, 422, 503).

    ``detail`` is one line for a person; a 422 names the ``parameter`` when one is
    at fault, and ``errors`` lists each failed check when the request did not parse.
    """

    detail: str = Field(description="what is wrong, in one line")
    parameter: str | None = Field(
        default=None, description="the parameter at fault (422), as the request names it"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="each failed check (422 when a parameter does not parse)"
    )
