import settings
import wwerr
from util import eq, raises

LOCAL = {
    "device_id": "kls-bin-0001",
    "wifi": {"ssid": "city", "password": "secret"},
    "broker": {"host": "mqtt.local", "port": 8883, "username": "kls-bin-0001", "password": "pw"},
    "calibration": {"mounting_height_mm": 1200, "usable_depth_mm": 900, "dead_zone_mm": 250},
}
SERVER = {
    "v": 1,
    "config_version": 3,
    "report_interval_s": 600,
    "nearly_full_interval_s": 300,
    "heartbeat_interval_s": 3600,
    "large_change_threshold": 0.1,
    "nearly_full_threshold": 0.75,
    "fire_temp_c": 70.0,
    "fire_rise_c_per_min": 5,
    "low_battery_mv": 3400,
    "calibration": {"mounting_height_mm": 1050, "usable_depth_mm": 800, "dead_zone_mm": 200},
}


def _local():
    s = settings.Settings()
    s.apply_local(LOCAL)
    return s


def test_local_file():
    s = _local()
    eq(s.topic("config"), "ww/kalasin/bins/kls-bin-0001/config")
    eq((s.broker_host, s.broker_port, s.username, s.password), ("mqtt.local", 8883, "kls-bin-0001", "pw"))
    eq(s.mounting_height_mm, 1200)
    eq(s.report_interval_s, 900)


def test_local_file_needs_a_valid_id():
    raises(wwerr.CONFIG, settings.Settings().apply_local, {"wifi": {}})
    raises(wwerr.CONFIG, settings.Settings().apply_local, {"device_id": "KLS-1"})
    raises(wwerr.CONFIG, settings.Settings().apply_local, {"device_id": "kls/1"})
    raises(wwerr.CONFIG, settings.Settings().apply_local, {"device_id": "kls-1", "city": "9x"})


def test_server_config_applies_once():
    s = _local()
    assert s.apply_server(SERVER)
    eq((s.config_version, s.report_interval_s, s.mounting_height_mm, s.dead_zone_mm), (3, 600, 1050, 200))
    eq(s.fire_rise_c_per_min, 5.0)
    assert not s.apply_server(SERVER), "same version again"
    older = dict(SERVER)
    older["config_version"] = 2
    older["report_interval_s"] = 1200
    assert not s.apply_server(older)
    eq(s.report_interval_s, 600)


def test_server_defaults_fill_missing_fields():
    s = _local()
    assert s.apply_server({"config_version": 1, "calibration": {"mounting_height_mm": 1500, "usable_depth_mm": 1000}})
    eq((s.report_interval_s, s.heartbeat_interval_s, s.dead_zone_mm), (900, 3600, 200))


def _bad(**changes):
    doc = dict(SERVER)
    doc.update(changes)
    s = _local()
    raises(wwerr.CONFIG, s.apply_server, doc)
    eq(s.config_version, 0, "nothing applied")


def test_server_config_refused_whole():
    _bad(report_interval_s=5)
    _bad(report_interval_s=600.0)
    _bad(low_battery_mv=True)
    _bad(nearly_full_interval_s=900)
    _bad(heartbeat_interval_s=300)
    _bad(large_change_threshold=0)
    _bad(calibration={"mounting_height_mm": 900, "usable_depth_mm": 800, "dead_zone_mm": 200})
    _bad(calibration={"usable_depth_mm": 800})
    _bad(v=2)
    _bad(config_version=0)


def test_parse():
    eq(settings.parse(b'{"a":1}'), {"a": 1})
    raises(wwerr.CONFIG, settings.parse, b"[1]")
    raises(wwerr.CONFIG, settings.parse, b"")
