"""Issue 17 item 6: what the MQTT broker refused reaches the operators.

The broker's guard plugins report denied publishes/subscriptions and login floods on
``$SYS/broker/wastewatch/#``.  Pure tests: the contract (`wastewatch.schema.broker.BrokerEvent`,
also as the plugin's ``snprintf`` writes it), the bridge's verdict (`classify`), the
sink's row, the bridge's subscriptions and counters, an optional subscription the
broker refuses.  Against the real stack: a provisioned device publishes on a topic of
the wrong city (PUBACKed, dropped) and an address floods logins; two bridges (in a
share group: the ``$SYS`` filter stays plain, so both forward every report) and a sink
carry the reports into ``broker_events``, once each, Grafana's two rules fire on them and
``wastewatch devices refused`` lists them; a bridge on an account that may not read the
reports (the simulator's) still runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from tests.conftest import SessionDb, StackEnv
from tests.mqtt_login import connack, local_client, running
from wastewatch.cli import main as cli
from wastewatch.core.settings import IngestSettings, KafkaSettings, Settings, load_settings
from wastewatch.grafana.alerting import RULES
from wastewatch.ingest.bridge import BROKER_EVENTS_FILTER, Bridge
from wastewatch.ingest.mqtt import Message, MqttSource
from wastewatch.ingest.rows import BROKER_EVENT_COLUMNS, Reject, broker_event_row
from wastewatch.ingest.sink import Sink, consumer_groups
from wastewatch.ingest.validate import (
    BROKER,
    DLQ,
    LANDFILL,
    READINGS,
    STATUS,
    Accepted,
    Rejected,
    classify,
)
from wastewatch.schema.broker import BrokerAccess, BrokerEvent, BrokerEventKind
from wastewatch.schema.dlq import DeadLetterReason
from wastewatch.schema.topics import telemetry_topic, topic_by_name
from wastewatch.security.dynsec import provision_commands, revoke_commands
from wastewatch.workbench.stack.mosquitto import MosquittoService

DENIED_TOPIC = "$SYS/broker/wastewatch/denied"
LOGIN_TOPIC = "$SYS/broker/wastewatch/login-refused"
NOW_S = 1_767_225_600.5
AT = 1_767_225_600
BOGUS_DSN = "postgresql://nobody:x@127.0.0.1:1/none"


def plugin_denied(
    *,
    access: str = "publish",
    client_id: str = "kls-bin-0001",
    username: str = "kls-bin-0001",
    address: str = "10.20.0.17",
    topic: str = "ww/khonkaen/bins/kls-bin-0001/telemetry",
    count: int = 1,
    at: int = AT,
) -> bytes:
    """A denial exactly as ww_guard.c's snprintf writes it (no spaces, this key order)."""
    return (
        f'{{"event":"denied","access":"{access}","client_id":"{client_id}",'
        f'"username":"{username}","address":"{address}","topic":"{topic}",'
        f'"count":{count},"at":{at}}}'
    ).encode()


def plugin_login(
    *, address: str = "203.0.113.9", username: str = "ww-ops", attempts: int = 21, at: int = AT
) -> bytes:
    """A login refusal exactly as ww_guard.c writes it."""
    return (
        f'{{"event":"login_refused","address":"{address}","username":"{username}",'
        f'"attempts":{attempts},"window_s":10,"at":{at}}}'
    ).encode()


def parse(payload: bytes) -> BrokerEvent:
    return BrokerEvent.model_validate_json(payload, strict=True, by_alias=True, by_name=False)


# --- the contract -------------------------------------------------------------------------


def test_the_plugins_json_is_a_valid_report() -> None:
    denied = parse(plugin_denied(count=3))
    assert denied.event is BrokerEventKind.DENIED
    assert denied.access is BrokerAccess.PUBLISH
    assert (denied.client_id, denied.count, denied.attempts) == ("kls-bin-0001", 3, None)
    assert denied.time == datetime(2026, 1, 1, tzinfo=UTC)
    assert denied.kafka_key == "kls-bin-0001"
    login = parse(plugin_login())
    assert (login.attempts, login.window_s, login.topic, login.client_id) == (21, 10, None, None)
    assert login.kafka_key == "203.0.113.9"
    # Anonymous or unknown: the plugin writes "" for a missing user name or address.
    assert parse(plugin_denied(username="", address="")).kafka_key == "kls-bin-0001"
    assert parse(plugin_denied(access="subscribe", topic="ww/#")).access is BrokerAccess.SUBSCRIBE
    # Escaped control characters in a topic survive (the plugin escapes them as \\u00XX).
    assert parse(plugin_denied(topic="a\\u0001b")).topic == "a\x01b"


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (plugin_denied(count=0), "greater than or equal to 1"),
        (plugin_denied().replace(b'"count":1', b'"count":true'), "valid integer"),
        (plugin_denied().replace(b'"count":1', b'"count":1.0'), "valid integer"),
        (plugin_denied().replace(b'"count":1', b'"count":"1"'), "valid integer"),
        (plugin_denied(at=1_000), "greater than or equal to 1704067200"),
        (plugin_denied(access="read"), "'publish' or 'subscribe'"),
        (plugin_denied(topic="a\\u0000b"), "should match pattern"),
        (plugin_denied().replace(b',"count":1', b""), "needs count"),
        (plugin_denied().replace(b'"at"', b'"attempts":3,"window_s":10,"at"'), "has no"),
        (plugin_login().replace(b'"attempts":21,', b""), "needs attempts"),
        (plugin_login().replace(b'"at"', b'"topic":"ww/x","at"'), "has no topic"),
        (plugin_login().replace(b'"at"', b'"extra":1,"at"'), "Extra inputs"),
        (plugin_login().replace(b'"event":"login_refused"', b'"event":"kicked"'), "denied"),
    ],
)
def test_a_report_is_strict(payload: bytes, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        parse(payload)


def test_the_catalog_has_the_broker_topic() -> None:
    topic = topic_by_name(BROKER)
    assert (topic.partitions, topic.key, topic.value_model) == (3, "username", "broker_event.v1")
    assert BROKER in consumer_groups(Settings())["ww-sink"]


# --- the bridge's verdict -----------------------------------------------------------------


def verdict(topic: str, payload: bytes) -> Accepted | Rejected:
    return classify(topic, payload, now_s=NOW_S, max_future_s=3600)


def test_valid_reports_go_to_the_broker_topic_in_canonical_form() -> None:
    denied = verdict(DENIED_TOPIC, plugin_denied(count=2))
    assert denied == Accepted(
        BROKER,
        "kls-bin-0001",
        b'{"event":"denied","access":"publish","client_id":"kls-bin-0001",'
        b'"username":"kls-bin-0001","address":"10.20.0.17",'
        b'"topic":"ww/khonkaen/bins/kls-bin-0001/telemetry","count":2,"at":1767225600}',
        "denied",
    )
    spaced = json.dumps(json.loads(plugin_login()), indent=2).encode()
    login = verdict(LOGIN_TOPIC, spaced)
    assert isinstance(login, Accepted)
    assert (login.topic, login.device_id, login.event) == (BROKER, "203.0.113.9", "login_refused")
    assert json.loads(login.value) == json.loads(plugin_login())  # canonical: no nulls
    assert b" " not in login.value


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("$SYS/broker/wastewatch/other", plugin_denied(), DeadLetterReason.BAD_TOPIC),
        ("$SYS/broker/uptime", b"12 seconds", DeadLetterReason.BAD_TOPIC),
        (LOGIN_TOPIC, plugin_denied(), DeadLetterReason.INVALID),  # the other kind's topic
        (DENIED_TOPIC, plugin_login(), DeadLetterReason.INVALID),
        (DENIED_TOPIC, b'{"event":"denied",', DeadLetterReason.NOT_JSON),
        (DENIED_TOPIC, b"\xff\xfe", DeadLetterReason.NOT_JSON),
        (DENIED_TOPIC, plugin_denied(count=0), DeadLetterReason.INVALID),
        (
            DENIED_TOPIC,
            plugin_denied().replace(b'"count":1', b'"count":1,"count":9'),
            DeadLetterReason.INVALID,
        ),
        (DENIED_TOPIC, plugin_denied(topic="x" * 3000), DeadLetterReason.OVERSIZE),
        (DENIED_TOPIC, plugin_denied(at=AT + 7200), DeadLetterReason.FUTURE_TIMESTAMP),
    ],
)
def test_bad_reports_are_dead_letters(topic: str, payload: bytes, reason: DeadLetterReason) -> None:
    out = verdict(topic, payload)
    assert isinstance(out, Rejected), out
    assert out.reason is reason, out.detail
    assert out.device_id is None  # keyed by the topic


# --- the sink's row -----------------------------------------------------------------------


def test_a_report_becomes_one_row() -> None:
    received = datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    row = broker_event_row(plugin_denied(count=4), received)
    assert not isinstance(row, Reject)
    assert dict(zip(BROKER_EVENT_COLUMNS, row, strict=True)) == {
        "time": datetime(2026, 1, 1, tzinfo=UTC),
        "event": "denied",
        "access": "publish",
        "client_id": "kls-bin-0001",
        "username": "kls-bin-0001",
        "address": "10.20.0.17",
        "topic": "ww/khonkaen/bins/kls-bin-0001/telemetry",
        "count": 4,
        "attempts": None,
        "window_s": None,
        "received_at": received,
    }
    login = broker_event_row(plugin_login(), received)
    assert not isinstance(login, Reject)
    assert login[1:3] == ("login_refused", None)
    assert isinstance(broker_event_row(b"{}", received), Reject)
    assert isinstance(broker_event_row(None, received), Reject)


# --- the bridge: subscriptions, counters --------------------------------------------------


@pytest.mark.asyncio
async def test_the_bridge_subscribes_plainly_and_counts_each_kind_from_zero() -> None:
    settings = Settings(
        city="kalasin",
        kafka=KafkaSettings(bootstrap="127.0.0.1:1"),
        ingest=IngestSettings(bridge_metrics_port=0, share_group="ww-bridge"),
    )
    bridge = Bridge(settings, client_id="broker-events-test")
    try:
        required, optional = bridge._mqtt._subscriptions, bridge._mqtt._optional
        assert all(f.startswith("$share/ww-bridge/ww/kalasin/") for f in required), required
        assert optional == [BROKER_EVENTS_FILTER] == ["$SYS/broker/wastewatch/#"]
        sample = bridge.metrics.registry.get_sample_value
        for kind in ("denied", "login_refused"):
            assert sample("ww_bridge_broker_events_total", {"event": kind}) == 0.0
        for name in (READINGS, STATUS, DLQ, LANDFILL, BROKER):
            bridge._partitions[name] = [0, 1, 2]
        out = bridge._outgoing(Message(DENIED_TOPIC, plugin_denied(), 1, 1, False, NOW_S))
        assert (out.topic, out.key) == (BROKER, b"kls-bin-0001")
        bad = bridge._outgoing(Message(DENIED_TOPIC, b"nope", 2, 1, False, NOW_S))
        assert (bad.topic, bad.key) == (DLQ, DENIED_TOPIC.encode())
        assert sample("ww_bridge_broker_events_total", {"event": "denied"}) == 1.0
        assert sample("ww_bridge_broker_events_total", {"event": "login_refused"}) == 0.0
        assert sample("ww_bridge_received_total", {"kind": BROKER}) == 1.0
        assert sample("ww_bridge_dead_letters_total", {"reason": "not_json"}) == 1.0
    finally:
        await bridge._producer.stop()  # never started; closes what its constructor opened


@pytest.mark.asyncio
async def test_a_refused_optional_subscription_does_not_stop_the_bridge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An account without the grant (WW_MQTT_BRIDGE_URL unset: the simulator's) still
    carries the devices' messages; the refusal is logged once and shown in health."""
    source = MqttSource(
        url="mqtt://u:p@127.0.0.1:1",
        client_id="optional-test",
        subscriptions=["ww/+/bins/+/telemetry"],
        optional_subscriptions=[BROKER_EVENTS_FILTER],
        receive_maximum=10,
        session_expiry_s=60,
    )
    loop = asyncio.get_running_loop()
    ok = ReasonCode(PacketTypes.SUBACK, identifier=1)
    refused = ReasonCode(PacketTypes.SUBACK, identifier=0x87)
    for _ in range(2):  # a reconnect's SUBACK: logged once
        source._loop = loop
        source._suback = loop.create_future()
        with caplog.at_level(logging.WARNING, logger="wastewatch.ingest.mqtt"):
            source._on_subscribe(None, None, 1, [ok, refused], None)  # type: ignore[arg-type]
        await asyncio.wait_for(source._suback, 1)  # resolved without an error
        assert source.refused == {BROKER_EVENTS_FILTER}
    assert len([r for r in caplog.records if "carrying on without it" in r.message]) == 1
    source._suback = loop.create_future()
    source._on_subscribe(None, None, 1, [refused, ok], None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"subscription refused: ww/\+/bins/\+/telemetry"):
        await asyncio.wait_for(source._suback, 1)
    assert source.refused == frozenset()


# --- against the real stack ---------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    city: str
    device_id: str
    password: str


@pytest.fixture
def device(stack_env: StackEnv) -> Iterator[Device]:
    """A device provisioned live for a city of this test's own, revoked afterwards."""
    tag = uuid.uuid4().hex[:6]
    city = f"brk{tag}"
    broker = MosquittoService(load_settings())
    registry = broker.devices
    made, password = registry.provision(f"brk-{tag}-a", city)
    try:
        assert broker.apply(provision_commands(made.device_id, city, password))
        yield Device(city, made.device_id, password)
    finally:
        registry.revoke(made.device_id)
        broker.apply(revoke_commands(made.device_id), tolerate=("not found", "does not exist"))


def publish_to_the_wrong_city(port: int, device: Device, wrong_city: str) -> bool:
    """What a device provisioned for another city does (MQTT 3.1.1): True if PUBACKed."""
    account = (device.device_id, device.password)
    with running(local_client(port, device.device_id, account=account), port) as client:
        body = {"v": 1, "id": device.device_id, "boot": 1, "seq": 1, "ts": int(time.time())}
        body |= {"d_mm": 612, "fill": 0.42}
        info = client.publish(
            telemetry_topic(wrong_city, device.device_id), json.dumps(body).encode(), qos=1
        )
        info.wait_for_publish(10)
        return info.is_published()


def flood_logins(port: int, address: str, username: str, attempts: int) -> list[str]:
    """Wrong passwords from ``address`` as fast as the broker answers; the CONNACKs."""
    return [
        connack(
            local_client(port, f"flood-{uuid.uuid4().hex}", account=(username, "wrong")),
            port,
            bind=address,
        )
        for _ in range(attempts)
    ]


def stored(dsn: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(f"select * from broker_events where {where}", params)
        assert cur.description is not None
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


async def until_stored(dsn: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        rows = await asyncio.to_thread(stored, dsn, where, params)
        if rows or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


def refused_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli(["devices", "refused", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_denied_publish_and_a_login_flood_reach_the_table_and_the_cli(
    stack_env: StackEnv,
    settings: Settings,
    own_topics: KafkaSettings,
    test_db: SessionDb,
    device: Device,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tag = uuid.uuid4().hex[:6]
    # 127.0.0.1 is exempt from the login limit locally; an address of this run's own keeps
    # other test sessions' floods (test_security's comes from 127.0.0.2) out of its window.
    address = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
    wrong_city = f"x{tag}"
    s = settings.model_copy(
        update={
            "city": device.city,
            "kafka": own_topics,
            "ingest": settings.ingest.model_copy(
                update={
                    "bridge_metrics_port": 0,
                    "sink_metrics_port": 0,
                    "session_expiry_s": 60,
                    "share_group": f"brk{tag}",
                    "sink_group": f"brk-{tag}",
                }
            ),
        }
    )
    port = stack_env.mqtt_port

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        async with (
            Bridge(s, client_id=f"ww-bridge-test-{tag}-a") as a,
            Bridge(s, client_id=f"ww-bridge-test-{tag}-b") as b,
            Sink(s),
        ):
            assert a.health()["broker_events"]
            assert b.health()["broker_events"]
            puback = await asyncio.to_thread(publish_to_the_wrong_city, port, device, wrong_city)
            assert puback, "MQTT 3.1.1: the broker acknowledges a publish it denies"
            outcomes = await asyncio.to_thread(flood_logins, port, address, f"nobody-{tag}", 25)
            denied = await until_stored(test_db.reader_dsn, "client_id = %s", [device.device_id])
            login = await until_stored(test_db.reader_dsn, "address = %s", [address])
            await asyncio.sleep(1.0)  # the second bridge's copies are in by now too
            for bridge in (a, b):  # both forwarded both reports
                sample = bridge.metrics.registry.get_sample_value
                for kind in ("denied", "login_refused"):
                    assert (sample("ww_bridge_broker_events_total", {"event": kind}) or 0) >= 1
        return denied, login, outcomes

    denied, login, outcomes = asyncio.run(run())
    assert set(outcomes) == {"Not authorized"}
    # Two bridges forwarded each report; each is stored once.
    assert stored(test_db.reader_dsn, "client_id = %s", [device.device_id]) == denied
    assert len(denied) == 1, denied
    assert denied[0]["event"] == "denied"
    assert denied[0]["access"] == "publish"
    assert denied[0]["username"] == device.device_id
    assert denied[0]["topic"] == telemetry_topic(wrong_city, device.device_id)
    assert denied[0]["count"] == 1
    assert stored(test_db.reader_dsn, "address = %s", [address]) == login
    assert len(login) == 1, login
    assert (login[0]["event"], login[0]["username"]) == ("login_refused", f"nobody-{tag}")
    assert login[0]["attempts"] == 21
    assert login[0]["client_id"] is None

    # Grafana's rules fire on them (as the read-only role, as Grafana runs them).
    rules = {r.uid: r for r in RULES}
    with psycopg.connect(test_db.reader_dsn, autocommit=True) as conn:
        for uid in ("ww-broker-denied", "ww-broker-login-flood"):
            row = conn.execute(rules[uid].sql).fetchone()
            assert row is not None
            assert row[0] > rules[uid].threshold, uid

    # The operator's view: `wastewatch devices refused`, through the read-only role only.
    monkeypatch.setenv("WW_DB_READER_DSN", test_db.reader_dsn)
    monkeypatch.setenv("WW_DB_WRITER_DSN", BOGUS_DSN)
    monkeypatch.setenv("WW_DB_DSN", BOGUS_DSN)
    root = logging.getLogger()  # main() points the root logger at the captured stderr
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "setLevel", lambda _level: None)
    code, out, err = refused_cli(capsys=capsys)
    assert (code, err) == (0, "")
    line = next(x for x in out.splitlines() if x.startswith(device.device_id))
    assert "publish denied 1x" in line
    assert telemetry_topic(wrong_city, device.device_id) in line
    flood = next(x for x in out.splitlines() if x.startswith(address))
    assert f"(user 'nobody-{tag}'): logins refused in 1 window," in flood
    assert "compare the topic with `wastewatch devices list`" in out
    assert "re-provision with the right --city" in out
    code, out, _ = refused_cli("--json", "--hours", "1", capsys=capsys)
    assert code == 0
    listed = {d["client"]: d for d in map(json.loads, out.splitlines())}
    assert listed[device.device_id]["refused"] == "publish"
    assert listed[device.device_id]["count"] == 1
    assert listed[address] | {"last_at": None} == {
        "client": address,
        "username": f"nobody-{tag}",
        "refused": "login",
        "last_topic": None,
        "count": 1,
        "last_at": None,
        "address": address,
        "bin_id": None,
    }
    for bad in (["--hours", "0"], ["--hours", "x"], ["--hours", "9000"], ["--since", "1"]):
        code, out, err = refused_cli(*bad, capsys=capsys)
        assert code == 2, bad
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_bridge_whose_account_may_not_read_the_reports_still_runs(
    settings: Settings, own_topics: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """WW_MQTT_BRIDGE_URL unset: the bridge logs in with WW_MQTT_URL (the simulator's
    account, no $SYS grant).  The broker refuses that one filter; the bridge runs."""
    tag = uuid.uuid4().hex[:6]
    s = settings.model_copy(
        update={
            "city": f"brk{tag}",
            "kafka": own_topics,
            "mqtt": settings.mqtt.model_copy(update={"bridge_url": None}),
            "ingest": settings.ingest.model_copy(
                update={"bridge_metrics_port": 0, "session_expiry_s": 60}
            ),
        }
    )

    async def run() -> dict[str, Any]:
        async with Bridge(s, client_id=f"brk-sim-{tag}") as bridge:
            return bridge.health()

    with caplog.at_level(logging.WARNING, logger="wastewatch.ingest.mqtt"):
        health = asyncio.run(run())
    assert health["broker_events"] is False
    assert health["mqtt_connected"] is True
    assert any("$SYS/broker/wastewatch/# refused" in r.getMessage() for r in caplog.records), (
        caplog.text
    )
