"""A message through the real Mosquitto and a record through the real Apache Kafka."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.conftest import StackEnv
from tests.mqtt_login import local_client, running
from wastewatch.core.kafka_topics import TopicError, create_topics, delete_prefixed_topics
from wastewatch.core.settings import KafkaSettings
from wastewatch.schema.topics import telemetry_topic

pytestmark = pytest.mark.integration


def test_qos1_message_through_mosquitto(stack_env: StackEnv) -> None:
    topic = telemetry_topic("testcity", f"dev-{uuid.uuid4().hex[:8]}")
    got: list[bytes] = []
    subscribed = threading.Event()
    arrived = threading.Event()

    def on_subscribe(client, userdata, mid, reason_codes, properties):  # type: ignore[no-untyped-def]
        subscribed.set()

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        got.append(msg.payload)
        arrived.set()

    port = stack_env.mqtt_port
    sub = local_client(port, f"sub-{uuid.uuid4().hex[:6]}")
    sub.on_subscribe = on_subscribe
    sub.on_message = on_message
    with running(sub, port):
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(10)
        with running(local_client(port), port) as pub:
            info = pub.publish(topic, b'{"hello":"kalasin"}', qos=1)
            info.wait_for_publish(10)
            assert info.is_published()  # the broker's PUBACK arrived
        assert arrived.wait(10)
        assert got == [b'{"hello":"kalasin"}']


@pytest.mark.asyncio
async def test_kafka_group_commit_and_resume(kafka_settings: KafkaSettings) -> None:
    """acks=all produce, a group consumer commits, a new member resumes after the commit."""
    topic = kafka_settings.topic_prefix + "waste.readings.v1"
    group = f"g-{uuid.uuid4().hex[:8]}"
    key = b"kls-bin-0001"  # one key -> one partition -> a well-defined order
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap, acks="all")
    await producer.start()
    try:
        first = [await producer.send_and_wait(topic, f"r{i}".encode(), key=key) for i in range(5)]
    finally:
        await producer.stop()
    partition = first[0].partition
    tp = TopicPartition(topic, partition)

    async def consume(n: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_settings.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            values: list[bytes] = []
            while len(values) < n:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for records in batch.values():
                    values.extend(r.value for r in records if r.value is not None)
            values = values[:n]
            await consumer.commit({tp: first[0].offset + len(values)})
            return values
        finally:
            await consumer.stop()

    assert await consume(3) == [b"r0", b"r1", b"r2"]
    # A new member of the same group starts from the committed offset, not the beginning.
    assert await consume(2) == [b"r3", b"r4"]


def test_create_topics_refuses_a_topic_with_fewer_partitions(stack_env: StackEnv) -> None:
    """Per-device order needs the catalog's partition count: a shorter topic is an error."""
    kafka = KafkaSettings(
        bootstrap=stack_env.kafka_bootstrap, topic_prefix=f"p{uuid.uuid4().hex[:8]}."
    )

    async def short_readings() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(kafka.topic_prefix + "waste.readings.v1", 3, 1)])
        finally:
            await admin.close()

    asyncio.run(short_readings())
    try:
        with pytest.raises(
            TopicError, match=r"waste\.readings\.v1 has 3 partitions, the catalog 12"
        ):
            asyncio.run(create_topics(kafka))
    finally:
        asyncio.run(delete_prefixed_topics(kafka))
