"""`wastewatch kafka create-topics|list-topics`."""

from __future__ import annotations

import argparse
import asyncio

from wastewatch.core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kafka", help="Kafka topics (WW_KAFKA_BOOTSTRAP)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "create-topics", help="create the catalog's topics that are missing"
    ).set_defaults(handler=create)
    actions.add_parser("list-topics", help="list the broker's topics").set_defaults(handler=listing)


def create(_: argparse.Namespace) -> int:
    from wastewatch.core.kafka_topics import create_topics

    for report in asyncio.run(create_topics(load_settings().kafka)):
        state = "created" if report.created else "exists"
        print(f"{report.name:<24} partitions={report.partitions:<3} {state}")
    return 0


def listing(_: argparse.Namespace) -> int:
    from wastewatch.core.kafka_topics import list_topics

    for name in sorted(asyncio.run(list_topics(load_settings().kafka))):
        print(name)
    return 0
