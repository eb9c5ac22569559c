"""The node's settings: first-boot file, then the server's retained config.

Two sources, applied in order over built-in defaults:

1. ``wastewatch.json`` in flash, written by the technician at installation
   (device id, city, Wi-Fi, broker and credentials, calibration; see the README).
2. The server's ``DeviceConfig`` (``schema/config.py``), received retained on
   ``ww/<city>/bins/<id>/config`` and kept in ``config.json``; applied only when
   its ``config_version`` is newer than the one held.

A server config is validated with the schema's ranges and cross-field rules
before it is stored; an invalid one is refused whole (``WWError(CONFIG)``) and
the node keeps what it had.
"""

import json

from wwerr import CONFIG, WWError

MYPY = False
if MYPY:  # annotations only
    Doc = dict[str, object]

_I32 = 2**31 - 1

# key, integer?, low, high, low bound exclusive?  (schema.config.DeviceConfig ranges)
_LIMITS = (
    ("report_interval_s", True, 10, 86400, False),
    ("nearly_full_interval_s", True, 10, 86400, False),
    ("heartbeat_interval_s", True, 60, 86400, False),
    ("large_change_threshold", False, 0.0, 1.0, True),
    ("nearly_full_threshold", False, 0.0, 1.0, True),
    ("fire_temp_c", False, 30.0, 150.0, False),
    ("fire_rise_c_per_min", False, 0.0, 100.0, True),
    ("low_battery_mv", True, 2000, 5000, False),
)
_CAL_LIMITS = (
    ("mounting_height_mm", True, 0, 5000, True),
    ("usable_depth_mm", True, 0, 5000, True),
    ("dead_zone_mm", True, 0, 1000, False),
)
_DEFAULTS = (
    ("report_interval_s", 900),
    ("nearly_full_interval_s", 300),
    ("heartbeat_interval_s", 3600),
    ("large_change_threshold", 0.1),
    ("nearly_full_threshold", 0.75),
    ("fire_temp_c", 70.0),
    ("fire_rise_c_per_min", 5.0),
    ("low_battery_mv", 3400),
)


class Settings:
    """Effective settings; attribute names follow the schema's."""

    def __init__(self) -> None:
        self.device_id = ""
        self.city = "kalasin"
        self.wifi_ssid = ""
        self.wifi_password = ""
        self.broker_host = "127.0.0.1"
        self.broker_port = 1883
        self.username: str | None = None
        self.password: str | None = None
        self.tls = False
        self.ca_pem = ""
        self.ntp_host = "pool.ntp.org"
        self.pings = 7
        self.max_range_mm = 6000
        self.max_spread_mm = 60
        self.ring_capacity = 512
        self.flush_max = 128
        self.connect_timeout_ms = 8000
        self.mqtt_timeout_ms = 5000
        self.config_version = 0
        self.report_interval_s = 900
        self.nearly_full_interval_s = 300
        self.heartbeat_interval_s = 3600
        self.large_change_threshold = 0.1
        self.nearly_full_threshold = 0.75
        self.fire_temp_c = 70.0
        self.fire_rise_c_per_min = 5.0
        self.low_battery_mv = 3400
        self.mounting_height_mm = 1050
        self.usable_depth_mm = 800
        self.dead_zone_mm = 250
        self.pins: "Doc" = {}

    def topic(self, kind: str) -> str:
        """``ww/<city>/bins/<device_id>/<kind>``."""
        return "ww/%s/bins/%s/%s" % (self.city, self.device_id, kind)

    def apply_local(self, doc: "Doc") -> None:
        """Overlay the technician's ``wastewatch.json``; raises WWError(CONFIG) when unusable."""
        self.device_id = _text(doc, "device_id", self.device_id)
        self.city = _text(doc, "city", self.city)
        wifi = _section(doc, "wifi")
        self.wifi_ssid = _text(wifi, "ssid", self.wifi_ssid)
        self.wifi_password = _text(wifi, "password", self.wifi_password)
        broker = _section(doc, "broker")
        self.broker_host = _text(broker, "host", self.broker_host)
        self.broker_port = _int(broker, "port", self.broker_port, 1, 65535)
        self.username = _text(broker, "username", self.username or "") or None
        self.password = _text(broker, "password", self.password or "") or None
        tls = broker.get("tls", self.tls)
        if not isinstance(tls, bool):
            raise WWError(CONFIG, "tls must be true or false")
        self.tls = tls
        self.ca_pem = _text(broker, "ca", self.ca_pem)
        if self.tls and "BEGIN CERTIFICATE" not in self.ca_pem:
            raise WWError(CONFIG, "broker.tls needs broker.ca, the CA certificate (PEM)")
        self.ntp_host = _text(doc, "ntp_host", self.ntp_host)
        self.pings = _int(doc, "pings", self.pings, 3, 15)
        self.max_range_mm = _int(doc, "max_range_mm", self.max_range_mm, 500, 20000)
        self.ring_capacity = _int(doc, "ring_capacity", self.ring_capacity, 8, 4096)
        self.pins = _section(doc, "pins")
        for key, is_int, lo, hi, open_lo in _LIMITS:
            setattr(self, key, _number(doc, key, getattr(self, key), is_int, lo, hi, open_lo))
        cal = _section(doc, "calibration")
        for key, is_int, lo, hi, open_lo in _CAL_LIMITS:
            setattr(self, key, _number(cal, key, getattr(self, key), is_int, lo, hi, open_lo))
        _check_rules(self)
        if not _slug(self.device_id, 3, 64) or not _slug(self.city, 2, 32) or not self.city[0].isalpha():
            raise WWError(CONFIG, "device_id / city must be lower-case slugs (schema.common)")

    def apply_server(self, doc: "Doc") -> bool:
        """Apply a server DeviceConfig if newer; True when applied, WWError(CONFIG) when invalid."""
        version = _int(doc, "config_version", 0, 0, _I32)
        if doc.get("v", 1) != 1 or version == 0:
            raise WWError(CONFIG, "unsupported config")
        if version <= self.config_version:
            return False
        new = Settings()
        for key, default in _DEFAULTS:
            setattr(new, key, default)
        for key, is_int, lo, hi, open_lo in _LIMITS:
            setattr(new, key, _number(doc, key, getattr(new, key), is_int, lo, hi, open_lo))
        cal = doc.get("calibration")
        if not isinstance(cal, dict):
            raise WWError(CONFIG, "calibration missing")
        new.dead_zone_mm = 200
        for key, is_int, lo, hi, open_lo in _CAL_LIMITS:
            if key != "dead_zone_mm" and key not in cal:
                raise WWError(CONFIG, key + " missing")
            setattr(new, key, _number(cal, key, getattr(new, key), is_int, lo, hi, open_lo))
        _check_rules(new)
        for key, _, _, _, _ in _LIMITS + _CAL_LIMITS:
            setattr(self, key, getattr(new, key))
        self.config_version = version
        return True


def _check_rules(s: Settings) -> None:
    # The schema's cross-field rules (DeviceConfig, Calibration validators).
    if s.nearly_full_interval_s > s.report_interval_s:
        raise WWError(CONFIG, "nearly_full_interval_s > report_interval_s")
    if s.heartbeat_interval_s < s.report_interval_s:
        raise WWError(CONFIG, "heartbeat_interval_s < report_interval_s")
    if s.mounting_height_mm - s.usable_depth_mm < s.dead_zone_mm:
        raise WWError(CONFIG, "full line inside the dead zone")


def _slug(value: str, lo: int, hi: int) -> bool:
    # ^[a-z0-9][a-z0-9-]{..}$ without the re module: they are MQTT topic levels.
    if not lo <= len(value) <= hi or value[0] == "-":
        return False
    for ch in value:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "-"):
            return False
    return True


def _section(doc: "Doc", key: str) -> "Doc":
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise WWError(CONFIG, key + " must be an object")
    return value


def _text(doc: "Doc", key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise WWError(CONFIG, key + " must be a string")
    return value


def _number(doc: "Doc", key: str, default: "int | float", is_int: bool, lo: "int | float", hi: "int | float", open_lo: bool) -> "int | float":
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (is_int and not isinstance(value, int)):
        raise WWError(CONFIG, key + " has the wrong type")
    if value > hi or value < lo or (open_lo and value == lo):
        raise WWError(CONFIG, key + " out of range")
    return value if is_int else float(value)


def _int(doc: "Doc", key: str, default: int, lo: int, hi: int) -> int:
    return int(_number(doc, key, default, True, lo, hi, False))


def parse(data: bytes) -> "Doc":
    """A JSON object from bytes; WWError(CONFIG) for anything else."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise WWError(CONFIG, "not JSON")
    if not isinstance(doc, dict):
        raise WWError(CONFIG, "not a JSON object")
    return doc


