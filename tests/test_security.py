"""Issue 10, against the real Mosquitto and TimescaleDB of the session's stack.

MQTT: no anonymous access, passwords checked, each provisioned device limited to
its own topics (a refused publish never reaches a subscriber, another device's
config is never delivered), service accounts limited to their jobs, TLS with the
local CA (and only TLS on the TLS port), a revoked device refused and cut off,
the bridge sending a spoofed device id to the dead-letter topic, the firmware's
host run connecting with the configuration `devices provision` wrote.
Database: the read-only role cannot write, each run-time role can write only
its own tables, none is a superuser, and the sink refuses to run as one.

Issue 17: no account takes another's client id (session takeover), and
provisioning is live: devices are provisioned and revoked on the running
broker through its dynamic security plugin, nobody else is disconnected.

Devices are provisioned once for the module in a city of the module's own, and
revoked at the end.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import errors as pg_errors

from tests.conftest import SessionDb, StackEnv
from tests.firmware.mp import FIRMWARE, MICROPYTHON, REPO
from tests.mqtt_login import connack, local_client, running
from tests.pipeline_helpers import earliest_consumer
from wastewatch.cli import main as cli
from wastewatch.core.mqtt_url import MqttTarget
from wastewatch.core.settings import KafkaSettings, Settings, load_settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.errors import IngestError
from wastewatch.ingest.sink import Sink
from wastewatch.ingest.validate import DLQ, READINGS
from wastewatch.schema.dlq import DeadLetter, DeadLetterReason
from wastewatch.schema.telemetry import EXAMPLE_READING
from wastewatch.schema.topics import (
    config_topic,
    landfill_ticket_topic,
    status_topic,
    telemetry_topic,
)
from wastewatch.security.accounts import BRIDGE, OPS, WEIGHBRIDGE
from wastewatch.security.dynsec import provision_commands, revoke_commands
from wastewatch.security.tls import LocalCA
from wastewatch.workbench.stack.mosquitto import MosquittoService, mqtt_ping

pytestmark = pytest.mark.integration

WAIT_S = 10.0
QUIET_S = 1.0  # how long a message that must not arrive is waited for, after a control


@dataclass(frozen=True)
class Device:
    device_id: str
    password: str


@dataclass(frozen=True)
class Fleet:
    city: str
    a: Device
    b: Device
    gone: Device
    broker: MosquittoService


@pytest.fixture(scope="module")
def fleet(stack_env: StackEnv) -> Iterator[Fleet]:
    tag = uuid.uuid4().hex[:6]
    city = f"sec{tag}"
    broker = MosquittoService(load_settings())
    registry = broker.devices
    made = {}
    try:
        for name in ("a", "b", "gone"):
            device, password = registry.provision(f"sec-{tag}-{name}", city)
            made[name] = Device(device.device_id, password)
            assert broker.apply(provision_commands(device.device_id, city, password))
        yield Fleet(city, made["a"], made["b"], made["gone"], broker)
    finally:
        # Also after a failed set-up: no test device outlives the module.
        for device in registry.devices():
            if device.city == city:
                registry.revoke(device.device_id)
                broker.apply(
                    revoke_commands(device.device_id), tolerate=("not found", "does not exist")
                )


# --- MQTT helpers -------------------------------------------------------------------------


def own_client_id(username: str | None) -> str:
    """The client id an account connects with: devices and weighbridges are bound to one."""
    if username is None or (username.startswith("ww-") and username != WEIGHBRIDGE):
        return f"sec-{uuid.uuid4().hex[:8]}"
    return username


def try_connect(
    port: int,
    username: str | None,
    password: str | None,
    *,
    ca_file: str | None = None,
    timeout_s: float = 5.0,
    client_id: str | None = None,
    bind: str = "",
) -> str:
    """The CONNACK's reason ("Success", "Not authorized", ...) or why there was none."""
    client = local_client(
        port,
        client_id or own_client_id(username),
        account=(username, password),
        ca_file=ca_file,
    )
    try:
        return connack(client, port, timeout_s=timeout_s, bind=bind)
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"


class Client:
    """A connected paho client (MQTT v5) with its own thread, keeping what it receives."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        port: int,
        ca_file: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or own_client_id(username),
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not connected.wait(WAIT_S):
            self.close()
            raise AssertionError(f"{username} got no CONNACK")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(WAIT_S), "no SUBACK"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT_S)

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.messages if t == topic]

    def wait_for(self, topic: str, timeout_s: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.on(topic):
                return True
            time.sleep(0.05)
        return bool(self.on(topic))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def service(fleet: Fleet, account: str, port: int) -> Client:
    return Client(account, fleet.broker.passwords[account], port=port)


def reading(device_id: str, seq: int = 1) -> bytes:
    body = {**EXAMPLE_READING, "id": device_id, "boot": 1, "seq": seq, "ts": int(time.time())}
    return json.dumps(body, separators=(",", ":")).encode()


# --- the broker ---------------------------------------------------------------------------


def test_anonymous_and_wrong_passwords_are_refused(stack_env: StackEnv, fleet: Fleet) -> None:
    port = stack_env.mqtt_port
    assert not mqtt_ping(port)
    assert try_connect(port, None, None) == "Not authorized"
    assert try_connect(port, fleet.a.device_id, "wrong") == "Not authorized"
    assert try_connect(port, fleet.a.device_id, fleet.b.password) == "Not authorized"
    assert try_connect(port, OPS, "wrong") == "Not authorized"
    assert try_connect(port, "nobody", "x") == "Not authorized"
    assert try_connect(port, fleet.a.device_id, fleet.a.password) == "Success"


def test_a_device_publishes_on_its_own_topics_only(stack_env: StackEnv, fleet: Fleet) -> None:
    city, a, b = fleet.city, fleet.a.device_id, fleet.b.device_id
    watcher = service(fleet, OPS, stack_env.mqtt_port)
    device = Client(a, fleet.a.password, port=stack_env.mqtt_port, client_id=a)
    try:
        watcher.subscribe(f"ww/{city}/#")
        refused = [
            telemetry_topic(city, b),
            status_topic(city, b),
            config_topic(city, a),  # the server's, not the device's, to write
            config_topic(city, b),
            f"ww/{city}/bins/{a}/other",
            landfill_ticket_topic(city, "site-1"),
        ]
        for topic in refused:
            device.publish(topic, reading(b))
        device.publish(telemetry_topic(city, a), reading(a))  # the control: allowed
        device.publish(status_topic(city, a), b'{"state":"online"}')
        assert watcher.wait_for(telemetry_topic(city, a))
        assert watcher.wait_for(status_topic(city, a))
        time.sleep(QUIET_S)
        assert [t for t, _ in watcher.messages if t in refused] == []
    finally:
        device.close()
        watcher.close()


def test_a_device_reads_its_own_config_only(stack_env: StackEnv, fleet: Fleet) -> None:
    city, a, b = fleet.city, fleet.a.device_id, fleet.b.device_id
    ops = service(fleet, OPS, stack_env.mqtt_port)
    own, other = config_topic(city, a), config_topic(city, b)
    try:
        ops.publish(other, b'{"v":1,"config_version":7}', retain=True)
        ops.publish(own, b'{"v":1,"config_version":8}', retain=True)
        device = Client(a, fleet.a.password, port=stack_env.mqtt_port, client_id=a)
        try:
            device.subscribe(other, f"ww/{city}/bins/+/config", f"ww/{city}/#")
            device.subscribe(own)
            assert device.wait_for(own)
            device.publish(telemetry_topic(city, a), reading(a))  # readable by nobody it
            ops.publish(other, b'{"v":1,"config_version":9}', retain=True)  # live, too
            time.sleep(QUIET_S)
            assert device.on(other) == []
            assert {t for t, _ in device.messages} == {own}
        finally:
            device.close()
    finally:
        ops.publish(own, b"", retain=True)
        ops.publish(other, b"", retain=True)
        ops.close()


def test_service_accounts_do_their_job_only(stack_env: StackEnv, fleet: Fleet) -> None:
    city, a = fleet.city, fleet.a.device_id
    port = stack_env.mqtt_port
    watcher = service(fleet, OPS, port)
    bridge = service(fleet, BRIDGE, port)
    weighbridge = service(fleet, WEIGHBRIDGE, port)
    try:
        watcher.subscribe(f"ww/{city}/#")
        bridge.subscribe(f"ww/{city}/bins/+/telemetry", f"ww/{city}/bins/+/config")
        # The bridge reads device telemetry but may publish nothing, config included.
        bridge.publish(telemetry_topic(city, a), reading(a, 1))
        bridge.publish(config_topic(city, a), b'{"v":1,"config_version":1}')
        # A weighbridge publishes tickets only.
        weighbridge.publish(telemetry_topic(city, a), reading(a, 2))
        ticket = landfill_ticket_topic(city, "site-1")
        weighbridge.publish(ticket, b"{}")
        assert watcher.wait_for(ticket)
        with_sim = Client(*_sim_login(), port=port)
        try:
            with_sim.publish(telemetry_topic(city, a), reading(a, 3))
        finally:
            with_sim.close()
        assert bridge.wait_for(telemetry_topic(city, a))
        time.sleep(QUIET_S)
        assert [json.loads(m)["seq"] for m in watcher.on(telemetry_topic(city, a))] == [3]
        assert watcher.on(config_topic(city, a)) == []
        assert bridge.on(config_topic(city, a)) == []
    finally:
        for c in (watcher, bridge, weighbridge):
            c.close()


def _sim_login() -> tuple[str, str]:
    target = MqttTarget.from_url(load_settings().mqtt.url)
    assert target.username is not None
    assert target.password is not None
    return target.username, target.password


def test_tls_with_the_local_ca_and_only_tls_on_its_port(
    stack_env: StackEnv, fleet: Fleet, tmp_path: Path
) -> None:
    tls_port, a = stack_env.mqtt_tls_port, fleet.a
    assert try_connect(tls_port, a.device_id, a.password, ca_file=stack_env.mqtt_ca_file) == (
        "Success"
    )
    # Plain MQTT on the TLS port gets no answer; TLS on the plain port neither.
    assert try_connect(tls_port, a.device_id, a.password, timeout_s=2) in {
        "no CONNACK",
        "disconnected",
    }
    plain = try_connect(
        stack_env.mqtt_port, a.device_id, a.password, ca_file=stack_env.mqtt_ca_file
    )
    assert plain.startswith(("SSLError", "OSError", "ConnectionResetError")), plain
    # A CA that did not sign the broker's certificate is not trusted.
    other = LocalCA(tmp_path / "ca.pem", tmp_path / "ca.key")
    other.ensure()
    refused = try_connect(tls_port, a.device_id, a.password, ca_file=str(other.ca_cert))
    assert refused.startswith("SSLCertVerificationError"), refused
    # Still a password check behind TLS; and a message over TLS arrives.
    assert (
        try_connect(tls_port, a.device_id, "wrong", ca_file=stack_env.mqtt_ca_file)
        == "Not authorized"
    )
    watcher = service(fleet, OPS, stack_env.mqtt_port)
    device = Client(a.device_id, a.password, port=tls_port, ca_file=stack_env.mqtt_ca_file)
    try:
        watcher.subscribe(telemetry_topic(fleet.city, a.device_id))
        device.publish(telemetry_topic(fleet.city, a.device_id), reading(a.device_id))
        assert watcher.wait_for(telemetry_topic(fleet.city, a.device_id))
    finally:
        device.close()
        watcher.close()


def test_a_revoked_device_is_refused_and_cut_off(
    stack_env: StackEnv, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = fleet.gone
    connected = Client(gone.device_id, gone.password, port=stack_env.mqtt_port)
    try:
        assert cli(["devices", "revoke", "--device-id", gone.device_id]) == 0
        assert "applied to the running local broker (no restart)" in capsys.readouterr().out
        assert connected.disconnected.wait(WAIT_S)
        assert try_connect(stack_env.mqtt_port, gone.device_id, gone.password) == "Not authorized"
        assert fleet.broker.devices.get(gone.device_id) is None
        # The others still get in.
        assert try_connect(stack_env.mqtt_port, fleet.a.device_id, fleet.a.password) == "Success"
    finally:
        connected.client.loop_stop()


def test_devices_cli_refuses_bad_input_in_one_line(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["provision", "--device-id", "Bad Id"], "must be 3-64 lower-case"),
        (["provision", "--device-id", "ww-bridge"], "reserved for service accounts"),
        (["provision", "--device-id", fleet.a.device_id], "already provisioned; --rotate"),
        (["provision", "--device-id", "sec-x-1", "--city", "X"], "city 'X'"),
        (["provision", "--device-id", "sec-never", "--rotate"], "is not provisioned"),
        (["revoke", "--device-id", "sec-never-provisioned"], "is not provisioned"),
    ]
    for argv, message in cases:
        assert cli(["devices", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert err.count("\n") == 1, err
    assert cli(["devices", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = {d["device_id"] for d in listed if d["city"] == fleet.city}
    assert {fleet.a.device_id, fleet.b.device_id} <= mine


def test_the_bridge_sends_a_spoofed_device_id_to_the_dlq(
    settings: Settings, own_topics: KafkaSettings, stack_env: StackEnv, fleet: Fleet
) -> None:
    asyncio.run(_spoof(settings, own_topics, stack_env, fleet))


async def _spoof(
    settings: Settings, kafka: KafkaSettings, stack_env: StackEnv, fleet: Fleet
) -> None:
    tag = uuid.uuid4().hex[:8]
    s = settings.model_copy(
        update={
            "city": fleet.city,
            "kafka": kafka,
            "mqtt": settings.mqtt.model_copy(update={"client_id": f"sec-bridge-{tag}"}),
            "ingest": settings.ingest.model_copy(
                update={"bridge_metrics_port": 0, "session_expiry_s": 60}
            ),
        }
    )
    assert MqttTarget.from_url(s.mqtt.bridge_url or "").username == BRIDGE
    city, a, b = fleet.city, fleet.a.device_id, fleet.b.device_id
    consumer = earliest_consumer(
        kafka.bootstrap, kafka.topic_prefix + DLQ, kafka.topic_prefix + READINGS
    )
    await consumer.start()
    try:
        async with Bridge(s):
            device = await asyncio.to_thread(
                Client, a, fleet.a.password, port=stack_env.mqtt_port, client_id=a
            )
            try:
                # Until the bridge's subscription is live, a valid reading may go unseen.
                got: dict[str, list[Any]] = {DLQ: [], READINGS: []}
                deadline = time.monotonic() + 30
                seq = 0
                while not got[READINGS]:
                    assert time.monotonic() < deadline, "the bridge forwarded nothing"
                    seq += 1
                    await asyncio.to_thread(
                        device.publish, telemetry_topic(city, a), reading(a, seq)
                    )
                    got = await _drain(consumer, got, 1.0)
                await asyncio.to_thread(device.publish, telemetry_topic(city, a), reading(b, 999))
                while not got[DLQ]:
                    assert time.monotonic() < deadline, "no dead letter for the spoofed id"
                    got = await _drain(consumer, got, 1.0)
            finally:
                await asyncio.to_thread(device.close)
    finally:
        await consumer.stop()
    (record,) = got[DLQ]
    assert record.key == a.encode()
    letter = DeadLetter.model_validate_json(record.value)
    assert letter.reason is DeadLetterReason.DEVICE_MISMATCH
    assert letter.reason.value == "device_mismatch"
    assert b in (letter.detail or "")
    assert all(json.loads(r.value)["id"] == a for r in got[READINGS])


async def _drain(
    consumer: AIOKafkaConsumer, got: dict[str, list[Any]], timeout_s: float
) -> dict[str, list[Any]]:
    batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
    out = {k: list(v) for k, v in got.items()}
    for tp, records in batch.items():
        key = DLQ if tp.topic.endswith(DLQ) else READINGS
        out[key].extend(records)
    return out


def test_the_firmware_connects_with_its_provisioned_config(
    stack_env: StackEnv, fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device_id = f"sec-{uuid.uuid4().hex[:6]}-fw"
    config = tmp_path / "wastewatch.json"
    argv = ["devices", "provision", "--device-id", device_id, "--city", fleet.city]
    assert cli([*argv, "--out", str(config)]) == 0
    assert f"provisioned {device_id}" in capsys.readouterr().out
    assert config.stat().st_mode & 0o777 == 0o600
    doc = json.loads(config.read_text())
    assert doc["broker"]["username"] == device_id
    assert doc["broker"]["port"] == stack_env.mqtt_tls_port
    assert doc["broker"]["tls"] is True
    assert doc["broker"]["ca"] == Path(stack_env.mqtt_ca_file).read_text()
    assert set(doc["calibration"]) == {"mounting_height_mm", "usable_depth_mm", "dead_zone_mm"}
    watcher = service(fleet, OPS, stack_env.mqtt_port)
    try:
        watcher.subscribe(f"ww/{fleet.city}/bins/{device_id}/#")
        cmd = [str(MICROPYTHON), str(FIRMWARE / "host_run.py"), "--config", str(config)]
        cmd += ["--readings", "2", "--state-dir", str(tmp_path / "flash")]
        run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        summary = json.loads(run.stdout.split("summary ", 1)[1])
        assert (summary["sent"], summary["pending"]) == (2, 0), run.stdout
        assert watcher.wait_for(telemetry_topic(fleet.city, device_id))
        # With the password of another device it gets nowhere.
        wrong = [*cmd[:-2], "--state-dir", str(tmp_path / "flash2"), "--password", "x"]
        wrong += ["--drain-s", "0"]
        run = subprocess.run(wrong, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert "connection refused, code 5" in run.stdout, run.stdout
    finally:
        watcher.close()
        watcher_ops = service(fleet, OPS, stack_env.mqtt_port)
        watcher_ops.publish(status_topic(fleet.city, device_id), b"", retain=True)
        watcher_ops.close()


# --- the database -------------------------------------------------------------------------

PROCESSOR_TABLES = {
    "collections",
    "bin_state",
    "fill_forecasts",
    "alerts",
    "webhook_outbox",
    "bin_hourly",
    "bin_battery_daily",
    "zone_stream_daily",
    "landfill_daily",
    "landfill_projections",
    "processor_state",
    "route_plans",
    "route_stops",
}
SINK_TABLES = {
    "readings",
    "device_status_history",
    "device_status",
    "landfill_deliveries",
    "broker_events",
}
REGISTRY = {"bins", "zones", "waste_streams", "depots", "trucks", "landfill_sites"}


def _writable(dsn: str) -> dict[str, set[str]]:
    """table -> the write privileges the DSN's role holds on it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            """
            select c.relname, p.priv
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            cross join (values ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) p(priv)
            where n.nspname = 'public' and c.relkind in ('r', 'p')
              and has_table_privilege(current_user, c.oid, p.priv)
            """
        ).fetchall()
    out: dict[str, set[str]] = {}
    for table, priv in rows:
        out.setdefault(str(table), set()).add(str(priv))
    return out


def test_the_read_only_role_cannot_insert_update_or_delete(test_db: SessionDb) -> None:
    assert _writable(test_db.reader_dsn) == {}
    statements = [
        "insert into waste_streams (stream, name_en, name_th, density_kg_per_m3) "
        "values ('x', 'x', 'x', 1)",
        "update bins set name = name",
        "delete from readings",
        "update alerts set state = state",
        "insert into processor_state (processor, key, state) values ('x', 'x', '{}')",
    ]
    # The role's read-only default only guards against mistakes (any session may turn it
    # off): the privileges are tested, as whoever holds the password meets them.
    rw = "-c default_transaction_read_only=off"
    with psycopg.connect(test_db.reader_dsn, autocommit=True, options=rw) as conn:
        for stmt in statements:
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(stmt)
        assert conn.execute("select count(*) from bins").fetchone() is not None


def test_each_run_time_role_writes_only_its_own_tables(test_db: SessionDb) -> None:
    ingest = _writable(test_db.ingest_dsn)
    assert set(ingest) == SINK_TABLES
    assert ingest["readings"] == {"INSERT"}  # a stored reading is never changed
    assert ingest["device_status"] == {"INSERT", "UPDATE"}
    assert ingest["broker_events"] == {"INSERT"}  # what the broker refused, kept as reported
    processor = _writable(test_db.processor_dsn)
    assert set(processor) == PROCESSOR_TABLES | {"landfill_deliveries"}
    assert processor["landfill_deliveries"] == {"INSERT"}
    assert not REGISTRY & (set(ingest) | set(processor))
    with psycopg.connect(test_db.ingest_dsn, autocommit=True) as conn:
        for stmt in ("delete from readings", "update alerts set state = state"):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(stmt)
    with psycopg.connect(test_db.processor_dsn, autocommit=True) as conn:
        for stmt in ("delete from readings", "update bins set name = name"):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(stmt)


def test_no_run_time_role_is_a_superuser(stack_env: StackEnv, test_db: SessionDb) -> None:
    for dsn in (
        test_db.writer_dsn,
        test_db.reader_dsn,
        test_db.ingest_dsn,
        test_db.processor_dsn,
    ):
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "select rolsuper, rolcreaterole, rolcreatedb from pg_roles "
                "where rolname = current_user"
            ).fetchone()
        assert row == (False, False, False), dsn.split("@")[0].split("//")[1].split(":")[0]
    env = load_settings()
    assert env.db.ingest_dsn == stack_env.ingest_dsn
    assert env.db.for_ingest() == stack_env.ingest_dsn
    assert env.db.for_processors() == stack_env.processor_dsn


def test_the_sink_refuses_a_superuser(settings: Settings, test_db: SessionDb) -> None:
    bad = settings.model_copy(
        update={
            "db": settings.db.model_copy(update={"ingest_dsn": test_db.dsn}),
            "ingest": settings.ingest.model_copy(
                update={"sink_metrics_port": 0, "sink_group": f"sec-{uuid.uuid4().hex[:8]}"}
            ),
        }
    )

    async def run() -> None:
        async with Sink(bad) as sink:
            with pytest.raises(IngestError, match=r"superuser.*WW_DB_INGEST_DSN"):
                await asyncio.wait_for(sink.wait(), 30)

    asyncio.run(run())


# --- secrets ------------------------------------------------------------------------------


def test_secrets_are_private_and_never_in_the_repository(stack_env: StackEnv) -> None:
    settings = load_settings()
    state = settings.state_dir.resolve()
    secrets_files = [state / "env", *sorted((state / "secrets").iterdir())]
    for path in secrets_files:
        assert path.stat().st_mode & 0o077 == 0, path
    passwords = set(MosquittoService(settings).passwords.values())
    passwords |= set(json.loads((state / "secrets" / "db.json").read_text()).values())
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = REPO / name.decode()
        if path.is_file():
            data = path.read_bytes()
            leaked = [p for p in passwords if p.encode() in data]
            assert not leaked, f"{name.decode()} holds a generated password"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(state / "env")], cwd=REPO, check=False
    )
    assert ignored.returncode == 0


def test_the_broker_listens_on_loopback_with_auth_and_acl(stack_env: StackEnv) -> None:
    conf = _broker_conf().splitlines()
    listeners = [line.split() for line in conf if line.startswith("listener ")]
    assert len(listeners) == 2
    assert all(parts[2] == "127.0.0.1" for parts in listeners)
    assert "allow_anonymous false" in conf
    assert any(line.startswith("plugin ") and "dynamic_security" in line for line in conf)
    assert not any(line.startswith(("password_file ", "acl_file ")) for line in conf)


def _broker_conf() -> str:
    state = load_settings().state_dir.resolve()
    return (state / "mosquitto" / "mosquitto.conf").read_text()


# --- issue 17: client ids and live provisioning -------------------------------------------


def test_no_account_may_use_another_accounts_client_id(stack_env: StackEnv, fleet: Fleet) -> None:
    """A device cannot take over the bridge's, another device's or a weighbridge's session,
    on either listener, and a device on the plain listener cannot kick one off TLS."""
    port, tls_port, ca = stack_env.mqtt_port, stack_env.mqtt_tls_port, stack_env.mqtt_ca_file
    a, b = fleet.a, fleet.b
    bridge_id = load_settings().mqtt.bridge_client_id()
    assert bridge_id.startswith("ww-bridge-")
    assert len(bridge_id) > len("ww-bridge-") + 16
    for taken in (bridge_id, "ww-bridge", b.device_id, WEIGHBRIDGE, "ww-ops"):
        assert try_connect(port, a.device_id, a.password, client_id=taken) == "Not authorized"
    weighbridge = fleet.broker.passwords[WEIGHBRIDGE]
    assert try_connect(port, WEIGHBRIDGE, weighbridge, client_id=a.device_id) == "Not authorized"
    assert try_connect(port, WEIGHBRIDGE, weighbridge) == "Success"  # the control
    assert try_connect(port, a.device_id, a.password) == "Success"
    on_tls = Client(b.device_id, b.password, port=tls_port, ca_file=ca)
    try:
        assert try_connect(port, a.device_id, a.password, client_id=b.device_id) == (
            "Not authorized"
        )
        time.sleep(QUIET_S)
        assert not on_tls.disconnected.is_set(), "device b was kicked off the TLS listener"
    finally:
        on_tls.close()


def test_a_device_cannot_steal_the_bridges_queued_readings(
    settings: Settings, own_topics: KafkaSettings, stack_env: StackEnv, fleet: Fleet
) -> None:
    """The bridge stops (its persistent session queues for it), a device connects with the
    bridge's client id, 200 readings are PUBACKed meanwhile: the restarted bridge gets all."""
    asyncio.run(_takeover(settings, own_topics, stack_env, fleet))


async def _takeover(
    settings: Settings, kafka: KafkaSettings, stack_env: StackEnv, fleet: Fleet
) -> None:
    s = settings.model_copy(
        update={
            "city": fleet.city,
            "kafka": kafka,
            "mqtt": settings.mqtt.model_copy(
                update={"client_id": f"ww-bridge-test-{uuid.uuid4().hex[:8]}"}
            ),
            "ingest": settings.ingest.model_copy(
                update={"bridge_metrics_port": 0, "session_expiry_s": 120}
            ),
        }
    )
    bridge_id = s.mqtt.bridge_client_id()
    city, a = fleet.city, fleet.a
    async with Bridge(s):
        pass  # the session now exists and queues while the bridge is away
    for clean in (True, False):
        thief = local_client(
            stack_env.mqtt_port,
            bridge_id,
            account=(a.device_id, a.password),
            clean_session=clean,
        )
        outcome = connack(thief, stack_env.mqtt_port)
        assert outcome == "Not authorized", (clean, outcome)
    device = await asyncio.to_thread(Client, a.device_id, a.password, port=stack_env.mqtt_port)
    try:
        for seq in range(1, 201):
            await asyncio.to_thread(
                device.publish, telemetry_topic(city, a.device_id), reading(a.device_id, seq)
            )
    finally:
        await asyncio.to_thread(device.close)
    consumer = earliest_consumer(kafka.bootstrap, kafka.topic_prefix + READINGS)
    await consumer.start()
    seqs: set[int] = set()
    try:
        async with Bridge(s):
            deadline = time.monotonic() + 30
            while len(seqs) < 200 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    seqs |= {json.loads(r.value)["seq"] for r in records}
    finally:
        await consumer.stop()
    assert seqs == set(range(1, 201)), f"{200 - len(seqs)} PUBACKed readings never reached Kafka"


def test_provisioning_is_live_and_disconnects_nobody(
    stack_env: StackEnv, fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connected bridge account and a connected device stay connected through 100
    provisionings and revocations; the new devices can connect at once, the revoked not."""
    port = stack_env.mqtt_port
    listener = service(fleet, BRIDGE, port)
    device = Client(fleet.a.device_id, fleet.a.password, port=port)
    try:
        listener.subscribe(f"ww/{fleet.city}/bins/+/telemetry")
        tag = uuid.uuid4().hex[:6]
        rows = "device_id\n" + "".join(f"sec-{tag}-{i:03d}\n" for i in range(50))
        (tmp_path / "devices.csv").write_text(rows)
        argv = ["devices", "provision", "--csv", str(tmp_path / "devices.csv")]
        argv += ["--city", fleet.city, "--out-dir", str(tmp_path / "configs"), "--no-tls"]
        assert cli(argv) == 0
        out = capsys.readouterr().out
        assert "provisioned 50 devices" in out, out
        assert "no restart" in out, out
        configs = sorted((tmp_path / "configs").glob("*.json"))
        assert len(configs) == 50
        first = json.loads(configs[0].read_text())
        assert first["broker"]["port"] == port
        assert "ca" not in first["broker"]
        assert configs[0].stat().st_mode & 0o777 == 0o600
        user, password = first["broker"]["username"], first["broker"]["password"]
        assert try_connect(port, user, password) == "Success"
        for i in range(50):
            assert cli(["devices", "revoke", "--device-id", f"sec-{tag}-{i:03d}"]) == 0
        assert try_connect(port, user, password) == "Not authorized"
        device.publish(telemetry_topic(fleet.city, fleet.a.device_id), reading(fleet.a.device_id))
        assert listener.wait_for(telemetry_topic(fleet.city, fleet.a.device_id))
        assert not listener.disconnected.is_set(), "the bridge account was disconnected"
        assert not device.disconnected.is_set(), "the device was disconnected"
    finally:
        device.close()
        listener.close()


def _guard_events(fleet: Fleet, port: int) -> Client:
    """The bridge's account, subscribed to what the broker's guard plugins report."""
    watcher = service(fleet, BRIDGE, port)
    watcher.subscribe("$SYS/broker/wastewatch/#")
    return watcher


def test_a_login_flood_is_refused_unchecked(stack_env: StackEnv, fleet: Fleet) -> None:
    """Over the limit (20 attempts in 10 s), an address is refused even with the right
    password, reported once on $SYS, and let in again after the window; 127.0.0.1, the
    local tools' address, is exempt (the flood comes from 127.0.0.2)."""
    port = stack_env.mqtt_port
    right = fleet.broker.passwords[OPS]
    watcher = _guard_events(fleet, port)
    try:
        started = time.monotonic()
        results = [try_connect(port, OPS, "wrong", bind="127.0.0.2") for _ in range(40)]
        assert set(results) == {"Not authorized"}
        assert try_connect(port, OPS, right, bind="127.0.0.2") == "Not authorized"
        assert try_connect(port, OPS, right) == "Success"  # 127.0.0.1 is exempt
        topic = "$SYS/broker/wastewatch/login-refused"
        assert watcher.wait_for(topic)
        (event,) = [json.loads(m) for m in watcher.on(topic)]
        assert event["address"] == "127.0.0.2"
        assert event["username"] == OPS
        time.sleep(max(0.0, 11.0 - (time.monotonic() - started)))
        assert try_connect(port, OPS, right, bind="127.0.0.2") == "Success"
    finally:
        watcher.close()


def test_a_denied_publish_is_reported_not_silent(stack_env: StackEnv, fleet: Fleet) -> None:
    """MQTT 3.1.1 PUBACKs a publish the ACL denies; the broker reports it on $SYS instead of
    dropping it without a trace (a device provisioned for the wrong city or id)."""
    port, a = stack_env.mqtt_port, fleet.a
    watcher = _guard_events(fleet, port)
    device = local_client(port, a.device_id, account=(a.device_id, a.password))
    try:
        with running(device, port):
            wrong_city = telemetry_topic("elsewhere", a.device_id)
            info = device.publish(wrong_city, reading(a.device_id), qos=1)
            info.wait_for_publish(WAIT_S)
            assert info.is_published()  # the device believes it delivered
            topic = "$SYS/broker/wastewatch/denied"
            assert watcher.wait_for(topic)
            event = json.loads(watcher.on(topic)[0])
            assert event["access"] == "publish"
            assert event["client_id"] == a.device_id
            assert event["username"] == a.device_id
            assert event["topic"] == wrong_city
            # A publish it may make is not reported.
            device.publish(
                telemetry_topic(fleet.city, a.device_id), reading(a.device_id)
            ).wait_for_publish(WAIT_S)
            time.sleep(QUIET_S)
            assert len(watcher.on(topic)) == 1
    finally:
        watcher.close()
