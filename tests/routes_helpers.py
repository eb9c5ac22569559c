"""Helpers of the route-plan tests: the ``routes`` CLI in process, plans read off a topic."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter

from aiokafka import AIOKafkaConsumer

from wastewatch.cli import OneLineParser
from wastewatch.cli import routes as routes_cli
from wastewatch.core.settings import KafkaSettings


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
    consumer = AIOKafkaConsumer(
        kafka.topic_prefix + topic,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
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
