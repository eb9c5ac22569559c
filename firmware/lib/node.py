"""One wake of a bin sensor: measure, decide, record, send, sleep.

On the ESP32 every wake is a fresh boot (deep sleep loses RAM), so a ``Node``
is built each time from what survives: the settings and the ring in flash,
the ``RtcState`` in RTC memory.  ``main.py`` (board) and ``host_run.py`` (unix
port, simulated HAL) both run ``Node.wake()``; nothing here imports ``machine``.

Delivery semantics (device -> Mosquitto, MQTT 3.1.1 QoS 1):

* a reading chosen for publishing is written to the flash ring *before* the
  radio goes on, with its (boot, seq) fixed; the sequence counter is saved
  first, so no key is ever used twice, even across a crash;
* the ring is sent oldest first; each record is marked sent only after its
  PUBACK.  A lost PUBACK means the reading is sent again (at-least-once);
  storage de-duplicates on the natural key;
* readings sent in a later wake than measured carry BUFFERED; readings pushed
  out of a full ring are counted in ``drop``.
"""

import flags
import measure
import payload
import rtcstate
import schedule
import settings
import store
from array import array
from measure import NULL
from mqtt import MQTTClient, pem_to_der
from retry import retry
from ring import Ring
from wwerr import WWError

FW_VERSION = "0.1.0"

_PINGS = array("i", [0] * measure.MAX_PINGS)  # the one ping buffer, allocated at import

MYPY = False
if MYPY:  # annotations only
    from hal import Hal, Opener


def load_settings(local: "dict[str, object]", root: str, opener: "Opener") -> settings.Settings:
    """Built-in defaults, the technician's file, then the last server config kept in flash."""
    s = settings.Settings()
    s.apply_local(local)
    doc = store.read_json(root + "/config.json", opener)
    if doc is not None:
        try:
            s.apply_server(doc)
        except WWError as exc:
            print("stored config ignored:", exc.detail)
    return s


class Node:
    """The node during one wake; build a new one per wake (RAM does not survive deep sleep)."""

    def __init__(self, hal: "Hal", s: settings.Settings, root: str) -> None:
        self.hal = hal
        self.s = s
        self.root = root
        self.ring = Ring(root + "/ring.bin", s.ring_capacity, hal.open_flash)
        state = rtcstate.unpack(hal.rtc_read())
        self.cold_boot = state is None
        if state is None:
            state = rtcstate.RtcState(store.next_boot(root, self.ring.max_boot, hal.open_flash))
            hal.rtc_write(state.pack())
        self.st = state
        self.current = -1  # ring record number measured in this wake
        self.recorded = 0
        self.sent = 0
        self.fill = NULL
        self.fl = 0

    # -- the wake ------------------------------------------------------------

    def wake(self) -> int:
        """Measure, maybe publish; returns seconds to sleep."""
        st = self.st
        s = self.s
        try:
            st.wakes += 1
            st.wakes_since_fail = min(st.wakes_since_fail + 1, 60000)
            now = self.hal.now_s()
            d, t, bat = self._measure(now)
            reason = schedule.publish_reason(
                st.has_last,
                st.last_fill,
                st.last_flags,
                st.last_pub_s,
                self.fill,
                self.fl,
                now,
                s.heartbeat_interval_s,
                int(s.large_change_threshold * 10000 + 0.5),
                self._nearly_full_e4(),
            )
            if reason:
                self._record(now, d, t, bat)
            if reason or (self.ring.live and schedule.retry_due(st.fail_streak, st.wakes_since_fail)):
                self._send()
        finally:
            self._finish()
        return schedule.sleep_s(self.fill, self.fl, s.report_interval_s, s.nearly_full_interval_s, self._nearly_full_e4())

    def drain(self) -> None:
        """Only try to empty the ring (no measurement)."""
        try:
            if self.ring.live:
                self._send()
        finally:
            self._finish()

    def pending(self) -> int:
        """Readings in the ring still waiting for a PUBACK."""
        return self.ring.live

    def _nearly_full_e4(self) -> int:
        return int(self.s.nearly_full_threshold * 10000 + 0.5)

    # -- measuring -----------------------------------------------------------

    def _measure(self, now: int) -> tuple[int, int, int]:
        """Read every sensor; sets self.fill and self.fl, returns (d_mm, t_dc, bat_mv)."""
        hal = self.hal
        s = self.s
        n = s.pings
        hal.sensors_on()
        try:
            temp_c = hal.temperature_c()
            hal.ping_into(_PINGS, n)
            battery = hal.battery_mv()
            tilted = hal.tilted()
            lid_open = hal.lid_open()
        finally:
            hal.sensors_off()
        k = measure.sound_factor(temp_c)
        result = measure.reduce_pings(_PINGS, n, k, s.dead_zone_mm, s.max_range_mm, s.max_spread_mm)
        fl = measure.distance_flags(result)
        fill = measure.reading_fill(result, s.mounting_height_mm, s.usable_depth_mm)
        t = measure.temp_dc(temp_c)
        bat = NULL if battery is None else min(max(battery, 0), 5000)
        if t == NULL:
            fl |= flags.TEMP_FAULT
        if tilted:
            fl |= flags.TILTED
            fill = NULL  # a sideways echo says nothing about the waste
        if lid_open:
            fl |= flags.LID_OPEN
        st = self.st
        if measure.fire(t, st.last_t_dc, now - st.last_t_s, s.fire_temp_c, s.fire_rise_c_per_min):
            fl |= flags.FIRE
        fl |= measure.battery_flags(bat, s.low_battery_mv)
        if not st.clock_set:
            fl |= flags.CLOCK_UNSET
        if t != NULL:
            st.last_t_dc = t
            st.last_t_s = now
        self.fill = fill
        self.fl = fl
        return (result if result >= 0 else NULL), t, bat

    def _record(self, now: int, d: int, t: int, bat: int) -> None:
        st = self.st
        ring = self.ring
        seq = st.seq
        st.drop += ring.make_room()
        st.seq = seq + 1
        self.hal.rtc_write(st.pack())  # the seq is spent before it is used
        ts = now if st.clock_set else 0
        self.current = ring.append(st.boot, seq, ts, d, self.fill, t, bat, st.rssi, self.fl, st.drop)
        st.has_last = True
        st.last_fill = self.fill
        st.last_flags = self.fl
        st.last_pub_s = now
        self.recorded += 1

    # -- sending -------------------------------------------------------------

    def _send(self) -> None:
        hal = self.hal
        s = self.s
        st = self.st
        try:
            if not hal.net_up(s.wifi_ssid, s.wifi_password, s.connect_timeout_ms):
                self._failed("no Wi-Fi")
                return
            rssi = hal.rssi()
            if rssi is not None:
                st.rssi = min(max(rssi, -127), 0)
            if not st.clock_set and hal.sync_clock(s.ntp_host):
                st.clock_set = True
                st.last_pub_s = hal.now_s()
                st.last_t_dc = NULL
            self._session()
            st.fail_streak = 0
            st.wakes_since_fail = 0
            st.connected_once = True
        except WWError as exc:
            self._failed(exc.detail)
        finally:
            hal.net_down()

    def _session(self) -> None:
        s = self.s
        st = self.st
        status_topic = s.topic("status")
        ca_der = pem_to_der(s.ca_pem) if s.tls else None
        client = MQTTClient(s.device_id, s.broker_host, s.broker_port, s.username, s.password, 60, s.mqtt_timeout_ms, ca_der)
        client.set_last_will(status_topic, payload.status("offline", s.device_id, FW_VERSION, st.boot, "connection_lost", 0))
        client.set_callback(self._on_message)
        retry(client.connect, 2, 250)
        try:
            client.subscribe(s.topic("config"))
            ts = self.hal.now_s() if st.clock_set else 0
            reason = "reconnect" if st.connected_once else "boot"
            client.publish(status_topic, payload.status("online", s.device_id, FW_VERSION, st.boot, reason, ts), True)
            self._flush(client)
            client.check_msg()
            client.publish(status_topic, payload.status("offline", s.device_id, FW_VERSION, st.boot, "sleep", ts), True)
            client.disconnect()
        finally:
            client.close()

    def _flush(self, client: MQTTClient) -> None:
        ring = self.ring
        topic = self.s.topic("telemetry")
        device_id = self.s.device_id
        while self.sent < self.s.flush_max:
            rec = ring.oldest_record()
            if rec is None:
                return
            extra = 0 if rec[0] == self.current else flags.BUFFERED
            client.publish(topic, payload.telemetry(device_id, rec, extra))
            ring.mark_sent(rec[0])
            self.sent += 1

    def _on_message(self, topic: str, msg: bytes) -> None:
        if topic != self.s.topic("config"):
            return
        try:
            if self.s.apply_server(settings.parse(msg)):
                store.write_atomic(self.root + "/config.json", msg, self.hal.open_flash)
                print("config %d applied" % self.s.config_version)
        except WWError as exc:
            print("config refused:", exc.detail)

    def _failed(self, why: str) -> None:
        st = self.st
        st.fail_streak = min(st.fail_streak + 1, 255)
        st.wakes_since_fail = 0
        print("not sent (%d pending): %s" % (self.ring.live, why))

    def _finish(self) -> None:
        self.hal.rtc_write(self.st.pack())
        self.ring.close()
