"""สุขภาพอุปกรณ์ / Fleet health: are the sensors alive, charged and measuring?

Last seen, battery, RSSI and firmware per device; offline devices and sensor
faults.  "Now" is the end of the picked time range, so a replayed fleet reads
the same as a live one.  The latest reading per device comes from ``readings``
(index ``readings_bin_time``, limited to the last 3 days before the range end
so only a few chunks are touched); battery drain from ``bin_battery_daily``
(the daily minimum per bin, merged from the hourly rollup by a trigger,
migration 0008: 10 rows per device instead of 240 hours); state and firmware
from ``device_status``.  What the MQTT broker refused (denied publishes and
subscriptions, login floods) from ``broker_events`` (migration 0011), with the same
query as ``wastewatch devices refused``.

Speed (``wastewatch bench dashboards``, 1,000 bins): the time series and the
fault table filter ``bin_hourly`` on its own ``zone_id``/``stream`` (the bin's
zone and stream when the hour was rolled up) instead of joining ``bins`` for
every hour; the fault table reads only the hours with a fault flag (a partial
index of 0008).
"""

from __future__ import annotations

from typing import Any

from grafanalib import core as g

from wastewatch.grafana.board import Board, Query, steps, title
from wastewatch.grafana.dashboards.common import (
    BIN_FILTER,
    COLOUR_CELL,
    STREAM,
    STREAM_MAPPINGS,
    ZONE,
    absolute,
    in_var,
    override,
    stat,
)
from wastewatch.schema import TelemetryFlag
from wastewatch.security import REFUSED_COLUMNS, refused_sql

UID = "ww-fleet"
DEAD_BATTERY_MV = 3300
"""The voltage at which a node stops (wastewatch.processors.alerts.AlertParams.dead_battery_mv)."""

_NOW = "$__timeTo()::timestamptz"

FAULT_FLAGS = int(
    TelemetryFlag.SENSOR_FAULT
    | TelemetryFlag.NO_ECHO
    | TelemetryFlag.TILTED
    | TelemetryFlag.CLOCK_UNSET
)
"""Flags that make an hour a fault hour (102).  Written as one literal in the SQL so
the planner can match the partial index ``bin_hourly_fault_hours`` (migration 0008),
whose predicate is ``flags_any & 102 <> 0``."""
_H_FILTER = f"{in_var('h.zone_id', 'zone')} AND {in_var('h.stream', 'stream')}"
"""The zone and stream variables applied to ``bin_hourly h`` (no join to ``bins``)."""

# Flags of wastewatch.schema.common.TelemetryFlag shown as fault words.
_FAULTS = (
    "concat_ws(', ', "
    "CASE WHEN r.flags & 64 <> 0 THEN 'sensor_fault' END, "
    "CASE WHEN r.flags & 2 <> 0 THEN 'no_echo' END, "
    "CASE WHEN r.flags & 4 <> 0 THEN 'tilted' END, "
    "CASE WHEN r.flags & 16 <> 0 THEN 'low_battery' END, "
    "CASE WHEN r.flags & 32 <> 0 THEN 'clock_unset' END, "
    "CASE WHEN r.flags & 512 <> 0 THEN 'temp_fault' END)"
)

_DEVICES_SQL = f"""SELECT b.device_id, b.bin_id, b.zone_id, b.stream,
  coalesce(ds.state, 'unknown') AS state, r.time AS last_seen,
  extract(epoch FROM {_NOW} - r.time) / 60 AS minutes_since,
  r.battery_mv,
  CASE WHEN bd.slope < 0 THEN greatest(r.battery_mv - {DEAD_BATTERY_MV}, 0) / -bd.slope END
    AS battery_days_left,
  r.rssi_dbm, ds.firmware_version, {_FAULTS} AS faults
FROM bins b
LEFT JOIN device_status ds ON ds.device_id = b.device_id
LEFT JOIN LATERAL (
  SELECT r.time, r.battery_mv, r.rssi_dbm, r.flags FROM readings r
  WHERE r.bin_id = b.bin_id AND r.time <= {_NOW} AND r.time > {_NOW} - interval '3 days'
  ORDER BY r.time DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL (
  SELECT regr_slope(d.battery_min, extract(epoch FROM d.day) / 86400) AS slope
  FROM bin_battery_daily d
  WHERE d.bin_id = b.bin_id AND d.day <= {_NOW} AND d.day > {_NOW} - interval '10 days'
) bd ON true
WHERE b.device_id IS NOT NULL AND {BIN_FILTER}
ORDER BY r.time NULLS FIRST, b.device_id"""
_DEVICES_COLUMNS = (
    "device_id",
    "bin_id",
    "zone_id",
    "stream",
    "state",
    "last_seen",
    "minutes_since",
    "battery_mv",
    "battery_days_left",
    "rssi_dbm",
    "firmware_version",
    "faults",
)

_SUMMARY_SQL = f"""SELECT
  count(*) FILTER (WHERE ds.state = 'online') AS online,
  count(*) FILTER (WHERE ds.state = 'offline' OR ds.state IS NULL) AS offline,
  count(*) FILTER (WHERE s.last_reading_at < {_NOW} - interval '2 hours') AS silent_2h,
  count(*) AS devices
FROM bins b
LEFT JOIN device_status ds ON ds.device_id = b.device_id
LEFT JOIN bin_state s ON s.bin_id = b.bin_id
WHERE b.device_id IS NOT NULL AND b.active AND {BIN_FILTER}"""

_OPEN_DEVICE_ALERTS_SQL = """SELECT
  count(*) FILTER (WHERE a.kind = 'low_battery') AS low_battery,
  count(*) FILTER (WHERE a.kind IN ('sensor_fault', 'tipped_over', 'clock_unset'))
    AS sensor_faults,
  count(*) FILTER (WHERE a.kind = 'offline') AS offline_alerts
FROM alerts a
WHERE a.state = 'open' AND a.kind IN ('low_battery', 'sensor_fault', 'tipped_over',
  'clock_unset', 'offline')"""

_OFFLINE_SQL = f"""SELECT b.device_id, b.bin_id, z.name_th || ' / ' || z.name_en AS zone,
  coalesce(a.opened_at, ds.changed_at) AS offline_since,
  extract(epoch FROM {_NOW} - coalesce(a.opened_at, ds.changed_at)) / 3600 AS hours,
  ds.reason, s.last_reading_at
FROM bins b
LEFT JOIN device_status ds ON ds.device_id = b.device_id
LEFT JOIN alerts a ON a.device_id = b.device_id AND a.kind = 'offline' AND a.state = 'open'
LEFT JOIN bin_state s ON s.bin_id = b.bin_id
LEFT JOIN zones z ON z.zone_id = b.zone_id
WHERE b.device_id IS NOT NULL AND (ds.state = 'offline' OR a.alert_id IS NOT NULL)
  AND {BIN_FILTER}
ORDER BY offline_since"""

_FAULTS_SQL = f"""SELECT f.bin_id, b.device_id, f.sensor_fault_h, f.no_echo_h, f.tilted_h,
  f.clock_unset_h, f.untrusted_readings, f.last_fault
FROM (
  SELECT h.bin_id,
    count(*) FILTER (WHERE h.flags_any & 64 <> 0) AS sensor_fault_h,
    count(*) FILTER (WHERE h.flags_any & 2 <> 0) AS no_echo_h,
    count(*) FILTER (WHERE h.flags_any & 4 <> 0) AS tilted_h,
    count(*) FILTER (WHERE h.flags_any & 32 <> 0) AS clock_unset_h,
    sum(h.readings - h.levels) AS untrusted_readings,
    max(h.bucket) AS last_fault
  FROM bin_hourly h
  WHERE $__timeFilter(h.bucket) AND h.flags_any & {FAULT_FLAGS} <> 0 AND {_H_FILTER}
  GROUP BY h.bin_id
) f
JOIN bins b ON b.bin_id = f.bin_id
ORDER BY f.sensor_fault_h DESC, f.no_echo_h DESC, f.tilted_h DESC, f.bin_id
LIMIT 200"""

_FIRMWARE_SQL = f"""SELECT coalesce(ds.firmware_version, 'unknown') AS firmware_version,
  count(*) AS devices
FROM bins b
LEFT JOIN device_status ds ON ds.device_id = b.device_id
WHERE b.device_id IS NOT NULL AND {BIN_FILTER}
GROUP BY 1
ORDER BY 1"""

_BATTERY_SQL = f"""SELECT $__timeGroupAlias(h.bucket, $__interval),
  min(h.battery_min) AS battery_min_mv,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY h.battery_min) AS battery_median_mv
FROM bin_hourly h
WHERE $__timeFilter(h.bucket) AND {_H_FILTER}
GROUP BY 1
ORDER BY 1"""

_REPORTING_SQL = f"""SELECT $__timeGroupAlias(h.bucket, $__interval),
  count(*) * 3600000.0 / $__interval_ms AS bins_reporting,
  sum(h.readings) AS readings
FROM bin_hourly h
WHERE $__timeFilter(h.bucket) AND {_H_FILTER}
GROUP BY 1
ORDER BY 1"""

_REFUSED_SQL = refused_sql(_NOW, "24")
"""Each client the broker refused in the 24 h before the end of the range."""

_BATTERY_STEPS = steps(("red", None), ("orange", 3400), ("green", 3550))
_RSSI_STEPS = steps(("red", None), ("orange", -100), ("green", -90))
_DAYS_STEPS = steps(("red", None), ("orange", 14), ("green", 60))
_SILENT_STEPS = steps(("green", None), ("orange", 1), ("red", 20))
"""Devices offline or silent: any is worth a look, twenty is an outage."""


def _coloured(name: str, unit: str, colours: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return override(
        name,
        unit=unit,
        thresholds=absolute(colours),
        cell=COLOUR_CELL,
        **more,
    )


def build() -> Board:
    board = Board(
        uid=UID,
        title=title("สุขภาพอุปกรณ์", "Fleet health"),
        description="Sensor nodes: last seen, battery, signal, firmware, offline and faults",
        tags=["wastewatch", "fleet"],
        variables=[ZONE, STREAM],
        time_from="now-7d",
        refresh="5m",
    )
    board.add(
        stat(
            title=title("สถานะอุปกรณ์", "Devices"),
            description="online/offline from the retained status; silent = no reading "
            "for 2 h before the end of the range",
            format="none",
            thresholds=steps(("green", None)),
            overrides=[
                override("online", display_name=title("ออนไลน์", "online")),
                override(
                    "offline",
                    display_name=title("ออฟไลน์", "offline"),
                    thresholds=absolute(_SILENT_STEPS),
                ),
                override(
                    "silent_2h",
                    display_name=title("เงียบ 2 ชม.", "silent 2 h"),
                    thresholds=absolute(_SILENT_STEPS),
                ),
                override(
                    "devices",
                    display_name=title("ทั้งหมด", "all"),
                    thresholds=absolute(steps(("blue", None))),
                ),
            ],
        ),
        w=12,
        h=4,
        queries=[Query(_SUMMARY_SQL, ("online", "offline", "silent_2h", "devices"))],
    )
    board.add(
        stat(
            title=title("การแจ้งเตือนอุปกรณ์", "Device alerts open"),
            format="none",
            thresholds=steps(("green", None), ("orange", 1)),
            overrides=[
                override("low_battery", display_name=title("แบตเตอรี่ต่ำ", "low battery")),
                override("sensor_faults", display_name=title("เซ็นเซอร์ผิดปกติ", "sensor")),
                override("offline_alerts", display_name=title("ขาดการติดต่อ", "offline")),
            ],
        ),
        w=12,
        h=4,
        queries=[
            Query(_OPEN_DEVICE_ALERTS_SQL, ("low_battery", "sensor_faults", "offline_alerts"))
        ],
    )
    board.add(
        g.Table(
            title=title("อุปกรณ์", "Devices"),
            description="Latest reading per device within 3 days before the end of the "
            "range; battery days left from the daily minimum voltage's slope over 10 days, "
            f"down to {DEAD_BATTERY_MV} mV",
            filterable=True,
            overrides=[
                _coloured("battery_mv", "mvolt", _BATTERY_STEPS),
                _coloured("battery_days_left", "d", _DAYS_STEPS, decimals=0),
                _coloured("rssi_dbm", "dBm", _RSSI_STEPS),
                override("minutes_since", unit="m", decimals=0),
                override("stream", mappings=STREAM_MAPPINGS),
                override("last_seen", display_name=title("เห็นล่าสุด", "last seen")),
            ],
        ),
        w=24,
        h=11,
        queries=[Query(_DEVICES_SQL, _DEVICES_COLUMNS)],
    )
    board.add(
        g.Table(
            title=title("อุปกรณ์ออฟไลน์", "Offline devices"),
            overrides=[override("hours", unit="h", decimals=1)],
        ),
        w=12,
        h=8,
        queries=[
            Query(
                _OFFLINE_SQL,
                (
                    "device_id",
                    "bin_id",
                    "zone",
                    "offline_since",
                    "hours",
                    "reason",
                    "last_reading_at",
                ),
                may_be_empty=True,
            )
        ],
    )
    board.add(
        g.Table(
            title=title("เซ็นเซอร์ผิดปกติ", "Sensor faults"),
            description="Hours in the range with a fault flag (bin_hourly.flags_any); "
            "untrusted readings = readings without a trusted fill level in those hours",
            overrides=[override("untrusted_readings", unit="none")],
        ),
        w=12,
        h=8,
        queries=[
            Query(
                _FAULTS_SQL,
                (
                    "bin_id",
                    "device_id",
                    "sensor_fault_h",
                    "no_echo_h",
                    "tilted_h",
                    "clock_unset_h",
                    "untrusted_readings",
                    "last_fault",
                ),
            )
        ],
    )
    board.add(
        g.BarChart(
            title=title("รุ่นเฟิร์มแวร์", "Firmware versions"),
            showLegend=False,
            xTickLabelRotation=-30,
        ),
        w=6,
        h=8,
        queries=[Query(_FIRMWARE_SQL, ("firmware_version", "devices"))],
    )
    board.add(
        g.TimeSeries(
            title=title("แบตเตอรี่", "Battery"),
            unit="mvolt",
            interval="1h",
            thresholds=_BATTERY_STEPS,
            thresholdsStyleMode="line",
        ),
        w=9,
        h=8,
        queries=[
            Query(_BATTERY_SQL, ("time", "battery_min_mv", "battery_median_mv"), fmt="time_series")
        ],
    )
    board.add(
        g.TimeSeries(
            title=title("การรายงานข้อมูล", "Reporting"),
            description="Bins with at least one reading in the hour (bin_hourly has one row "
            "per bin and hour; the hourly average when a point spans several hours) and "
            "readings stored per interval",
            interval="1h",
            overrides=[override("readings", axis="right")],
        ),
        w=9,
        h=8,
        queries=[Query(_REPORTING_SQL, ("time", "bins_reporting", "readings"), fmt="time_series")],
    )
    board.add(
        g.Table(
            title=title("ถูกโบรกเกอร์ปฏิเสธ (24 ชม.)", "Refused by the broker (24 h)"),
            description="Clients the MQTT broker refused in the 24 h before the end of the "
            "range, every zone: publishes or subscriptions its ACL denied (a device "
            "provisioned for the wrong city or id: the broker acknowledges its readings and "
            "drops them) and addresses refused for a login flood (count = refused windows). "
            "Compare last_topic with `wastewatch devices list`; re-provision the device with "
            "the right --city. The same list: `wastewatch devices refused`.",
            filterable=True,
            overrides=[
                override("count", unit="none", decimals=0),
                override("last_at", display_name=title("ล่าสุด", "last")),
                override("last_topic", display_name=title("หัวข้อล่าสุด", "last topic")),
            ],
        ),
        w=24,
        h=7,
        queries=[Query(_REFUSED_SQL, REFUSED_COLUMNS, may_be_empty=True)],
    )
    return board
