"""The hand-off between paho's thread and asyncio (`wastewatch.ingest.mqtt.MqttSource`), without a
broker.

Regression: a wake-up whose message the consumer had already taken left the
ready event set, `wait_for_message` returned True on an empty inbox, and the
bridge then blocked on the next message with a Kafka batch still open, so
the last readings before a quiet spell were neither sent nor acked.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from wastewatch.ingest.mqtt import Message, MqttSource


def _source() -> MqttSource:
    return MqttSource(
        url="mqtt://127.0.0.1:1",
        client_id="t",
        subscriptions=["x/#"],
        receive_maximum=10,
        session_expiry_s=60,
    )


def _message(mid: int) -> Message:
    return Message("ww/t/bins/dev-001/telemetry", b"{}", mid, 1, False, time.time())


@pytest.mark.asyncio
async def test_a_stale_wake_up_does_not_count_as_a_message() -> None:
    source = _source()
    source._inbox.append(_message(1))
    asyncio.get_running_loop().call_soon(source._wake)  # message 1's wake-up, still pending
    assert source.get_nowait().mid == 1  # the consumer took it without waiting
    started = time.monotonic()  # the pending wake-up runs while we wait: no message though
    assert await source.wait_for_message(0.2) is False
    assert time.monotonic() - started >= 0.19


@pytest.mark.asyncio
async def test_a_message_arriving_while_waiting_is_seen() -> None:
    source = _source()
    loop = asyncio.get_running_loop()

    def arrive() -> None:
        source._inbox.append(_message(2))
        source._wake()

    loop.call_later(0.05, arrive)
    assert await source.wait_for_message(2.0) is True
    assert source.get_nowait().mid == 2
