"""`wastewatch kafka create-topics|list-topics`."""

from __future__ import annotations

import argparse
import asyncio

from wastewatch.cli.options import Subparsers, add_action, command_group
from wastewatch.core import load_settings


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "kafka", "Kafka topics (WW_KAFKA_BOOTSTRAP)")
    add_action(actions, "create-topics", create, "create the catalog's topics that are missing")
    add_action(actions, "list-topics", listing, "list the broker's topics")


def create(_: argparse.Namespace) -> int:
    from wastewatch.core import create_topics

    for report in asyncio.run(create_topics(load_settings().kafka)):
        state = "created" if report.created else "exists"
        print(f"{report.name:<24} partitions={report.partitions:<3} {state}")
    return 0


def listing(_: argparse.Namespace) -> int:
    from wastewatch.core import list_topics

    for name in sorted(asyncio.run(list_topics(load_settings().kafka))):
        print(name)
    return 0
