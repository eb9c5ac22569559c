"""Helpers of the route-plan tests: the synthetic day's clock and bins, the ``routes`` CLI
in process, plans read off a topic."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from datetime import date, time, timedelta
from typing import Any

from tests.pipeline_helpers import earliest_consumer
from wastewatch.cli import OneLineParser
from wastewatch.cli import routes as routes_cli
from wastewatch.core.settings import KafkaSettings
from wastewatch.processors.routing.problem import BinInput, local_to_utc
from wastewatch.schema.common import WasteStream

DAY = date(2026, 3, 2)  # a Monday
SHIFT = local_to_utc(DAY, time(5, 0))
AS_OF = SHIFT - timedelta(hours=1)
"""The crafted days' service date, shift start and bin readings."""


def bin_input(bin_id: str, lat: float, lon: float, **kw: Any) -> BinInput:
    """A general 240 L bin read an hour before the shift, 30 % full and hardly filling;
    ``kw`` sets what a test crafts."""
    fields: dict[str, Any] = {
        "stream": WasteStream.GENERAL,
        "volume_l": 240.0,
        "fill_level": 0.3,
        "rate_per_h": 0.001,
        "threshold": 0.8,
        "as_of": AS_OF,
        **kw,
    }
    return BinInput(bin_id=bin_id, latitude=lat, longitude=lon, **fields)


def run_routes(argv: list[str]) -> int:
    """``wastewatch routes ...`` in this process (so monkeypatched settings apply)."""
    parser = OneLineParser(prog="wastewatch")
    routes_cli.register(parser.add_subparsers(dest="command", required=True))
    args: argparse.Namespace = parser.parse_args(argv)
    return int(args.handler(args))


async def consume_plans(
    kafka: KafkaSettings, topic: str, plan_ids: set[str], each: int = 1
) -> list[bytes]:
    """Every record on ``topic`` of one of ``plan_ids``, once each was seen ``each`` times.

    The session's topics hold other tests' plans too; they are skipped by id.
    """
    consumer = earliest_consumer(kafka.bootstrap, kafka.topic_prefix + topic)
    await consumer.start()
    got: list[bytes] = []
    seen: Counter[str] = Counter()
    try:
        async with asyncio.timeout(20):
            while any(seen[p] < each for p in plan_ids):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        value = r.value or b""
                        plan_id = json.loads(value)["plan_id"]
                        if plan_id in plan_ids:
                            got.append(value)
                            seen[plan_id] += 1
    finally:
        await consumer.stop()
    return got
