"""The bridge's pump and retry loop never work on the same Kafka batches at once.

Regression (found by `test_kafka_failover.py`, a partition leader killed under load):
the pump was waiting inside ``send_batch`` for room in the producer, part-way through
flushing its open batches, when an earlier batch failed; the retry loop re-appended the
failed records and flushed every open batch, the pump's own included, and the pump then
tried to flush a batch that was gone: ``KeyError``, the bridge exited, and the readings
it held waited for a restart.

Kafka's side is played by a stand-in ``send_batch`` that holds one send and fails one
delivery on cue (the real-broker version of this fault is the failover test); the
batching, acks bookkeeping and retry loop are the bridge's own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from wastewatch.core.settings import IngestSettings, KafkaSettings, Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.mqtt import Message
from wastewatch.ingest.validate import DLQ, LANDFILL, READINGS, STATUS
from wastewatch.schema.topics import telemetry_topic
from wastewatch.workbench.bench.payloads import payload

pytestmark = [pytest.mark.timeout(30)]

CITY = "retry-test"
PARTITIONS = 12


class StandInSends:
    """Records every ``send_batch``; holds the one numbered ``hold`` until released."""

    def __init__(self, hold: int) -> None:
        self.calls: list[tuple[str, int, asyncio.Future[Any]]] = []
        self.hold = hold
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def send_batch(self, builder: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.calls.append((topic, partition, fut))
        if len(self.calls) == self.hold:
            self.holding.set()
            await self.release.wait()  # the producer has no room for this partition yet
        return fut


def _reading(device: str, seq: int) -> Message:
    body = payload(device.encode(), seq, int(time.time()))
    return Message(telemetry_topic(CITY, device), body, seq + 1, 1, False, time.time())


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_failure_while_the_pump_waits_to_send_loses_nothing_and_kills_nothing() -> None:
    settings = Settings(
        city=CITY,
        kafka=KafkaSettings(bootstrap="127.0.0.1:1", linger_ms=50),
        ingest=IngestSettings(bridge_metrics_port=0),
    )
    bridge = Bridge(settings, client_id="retry-test")
    readings = settings.kafka.topic_prefix + READINGS
    for name in (READINGS, STATUS, DLQ, LANDFILL):
        bridge._partitions[settings.kafka.topic_prefix + name] = list(range(PARTITIONS))
    # Three devices on three different partitions: C's batch goes first and fails later;
    # A's and B's are open together when the pump flushes them.
    devices: dict[int, str] = {}
    n = 0
    while len(devices) < 3:
        device = f"dev-{n:04d}"
        devices.setdefault(bridge._partition(readings, device), device)
        n += 1
    (part_c, dev_c), (part_a, dev_a), (part_b, dev_b) = list(devices.items())
    sends = StandInSends(hold=2)  # the second send (A's) waits for room
    bridge._producer.send_batch = sends.send_batch  # type: ignore[method-assign]
    source = bridge._mqtt
    bridge._started = True
    tasks = [asyncio.create_task(bridge._pump()), asyncio.create_task(bridge._retry())]
    try:
        source._inbox.append(_reading(dev_c, 0))
        source._wake()
        await _until(lambda: len(sends.calls) == 1, "C's batch was not sent")
        for message in (_reading(dev_a, 0), _reading(dev_b, 0)):
            source._inbox.append(message)
        source._wake()
        await asyncio.wait_for(sends.holding.wait(), 5)  # the pump is inside A's send
        sends.calls[0][2].set_exception(KafkaTimeoutError())  # C's delivery fails
        await asyncio.sleep(0.5)  # the retry loop wakes (0.2 s back-off) meanwhile
        sends.release.set()
        await _until(lambda: len(sends.calls) == 4, "C's reading was not re-sent")
        for _, _, fut in sends.calls[1:]:
            if not fut.done():
                fut.set_result(None)
        await _until(lambda: len(bridge._acks) == 0, "not every message was released")
        for task in tasks:
            assert not task.done(), task.exception()
        sent = [(topic, partition) for topic, partition, _ in sends.calls]
        assert sorted(sent[1:]) == sorted(
            [(readings, part_a), (readings, part_b), (readings, part_c)]
        )
        assert sent[0] == (readings, part_c)
        assert bridge.metrics.acked._value.get() == 3
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bridge._producer.stop()  # never started; closes what its constructor opened


@pytest.mark.asyncio
async def test_a_failed_send_keeps_each_devices_order() -> None:
    """A device's reading 0 is in flight when its newer readings 1 and 2 wait in an open
    batch; reading 0's send fails.  What reaches Kafka next is 0, 1, 2 in that order, and
    intake resumes only once Kafka acknowledged the re-send."""
    settings = Settings(
        city=CITY,
        kafka=KafkaSettings(bootstrap="127.0.0.1:1", linger_ms=300),
        ingest=IngestSettings(bridge_metrics_port=0),
    )
    bridge = Bridge(settings, client_id="order-test")
    for name in (READINGS, STATUS, DLQ, LANDFILL):
        bridge._partitions[settings.kafka.topic_prefix + name] = list(range(PARTITIONS))
    batches: list[tuple[list[int], asyncio.Future[Any]]] = []

    async def send_batch(builder: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        outs = bridge._last_flushed  # the records of this batch, in order
        batches.append(([o.order for o in outs], fut))
        return fut

    original_flush = bridge._flush

    async def flush(where: tuple[str, int]) -> asyncio.Future[Any] | None:
        bridge._last_flushed = list(bridge._open[where][1]) if where in bridge._open else []
        return await original_flush(where)

    bridge._producer.send_batch = send_batch  # type: ignore[method-assign]
    bridge._flush = flush  # type: ignore[method-assign]
    source = bridge._mqtt
    bridge._started = True
    tasks = [asyncio.create_task(bridge._pump()), asyncio.create_task(bridge._retry())]
    try:
        source._inbox.append(_reading("dev-order", 0))
        source._wake()
        await _until(lambda: len(batches) == 1, "reading 0 was not sent")
        source._inbox.extend([_reading("dev-order", 1), _reading("dev-order", 2)])
        source._wake()
        await _until(lambda: len(bridge._open) == 1, "readings 1 and 2 are not in a batch")
        batches[0][1].set_exception(KafkaTimeoutError())
        await _until(lambda: len(batches) == 2, "nothing was re-sent")
        assert batches[1][0] == [0, 1, 2], "a device's readings left out of order"
        await asyncio.sleep(0.3)
        assert not bridge._healthy.is_set(), "intake resumed before Kafka acknowledged"
        batches[1][1].set_result(None)
        await _until(bridge._healthy.is_set, "intake did not resume after the ack")
        assert bridge.metrics.acked._value.get() == 3
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bridge._producer.stop()
