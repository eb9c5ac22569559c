"""`wastewatch services up|down|status|env|install`: the local stack."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from wastewatch.cli import Subparsers, add_action, command_group
from wastewatch.core import load_settings
from wastewatch.workbench.commands import require

require("wastewatch.workbench.stack")

if TYPE_CHECKING:
    from wastewatch.core import ClusterView
    from wastewatch.workbench.stack import Stack


def register(sub: Subparsers) -> None:
    actions = command_group(
        sub, "services", "the local stack: Mosquitto, Apache Kafka, TimescaleDB"
    )
    for name, handler, text in (
        ("up", up, "install what is missing, start everything, write .wastewatch/env"),
        ("down", down, "stop what `up` started (by pid)"),
        ("status", status, "each service, each Kafka broker and each topic's leaders and ISR"),
        ("env", env, "print .wastewatch/env (KEY=VALUE lines)"),
        ("install", install, "install packages, Kafka's jars and TimescaleDB; start nothing"),
    ):
        action = add_action(actions, name, handler, text)
        if name == "up":
            action.add_argument(
                "--kafka-brokers",
                type=_brokers,
                default=None,
                metavar="N",
                help="Kafka nodes (1-5; 3 gives replication factor 3, min.insync.replicas 2); "
                "default: the existing cluster's, else WW_STACK_KAFKA_BROKERS, else 1",
            )


def _brokers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise argparse.ArgumentTypeError(f"expected a number of brokers from 1 to 5, not {text!r}")
    return int(text)


def _stack(kafka_brokers: int | None = None) -> Stack:
    from wastewatch.workbench.stack import Stack

    return Stack(load_settings(), kafka_brokers=kafka_brokers)


def up(args: argparse.Namespace) -> int:
    stack = _stack(args.kafka_brokers)
    env = stack.up()
    for status_row in stack.status():
        print(f"{status_row.name:<12} {'up' if status_row.up else 'DOWN':<5} {status_row.address}")
    print(f"\nwrote {stack.env_file}:")
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


def down(_: argparse.Namespace) -> int:
    stopped = _stack().down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status(_: argparse.Namespace) -> int:
    from wastewatch.core import TopicError

    stack = _stack()
    rows = stack.status()
    for row in rows:
        print(f"{row.name:<12} {'up' if row.up else 'down':<5} {row.address}")
    view = None
    # Only ask a broker that answers: a client of one that is down logs its own errors.
    if any(r.name == "kafka" and r.up for r in rows):
        with contextlib.suppress(TopicError):  # no view: the status lines say enough
            view = stack.kafka.describe()
    if view is not None:
        print()
        print(format_cluster(view))
    return 0 if all(r.up for r in rows) else 1


def format_cluster(view: ClusterView) -> str:
    """The brokers, the controller and each topic's partitions: leader, replicas, ISR."""
    lines = [
        "kafka brokers: "
        + ", ".join(f"{node}={address}" for node, address in sorted(view.brokers.items()))
        + f" (controller {view.controller_id})"
    ]
    for topic, parts in sorted(view.topics.items()):
        lines.append(f"{topic}")
        for p in parts:
            short = " (under-replicated)" if len(p.isr) < len(p.replicas) else ""
            lines.append(
                f"  partition {p.partition:>2}  leader {p.leader:>2}  "
                f"replicas {','.join(map(str, p.replicas)):<7} "
                f"isr {','.join(map(str, p.isr))}{short}"
            )
    return "\n".join(lines)


def env(_: argparse.Namespace) -> int:
    stack = _stack()
    if not stack.env_file.exists():
        print(
            f"wastewatch: {stack.env_file} does not exist; run `wastewatch services up` first",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(stack.env_file.read_text())
    return 0


def install(_: argparse.Namespace) -> int:
    stack = _stack()
    stack.install()
    print(
        "installed: mosquitto, postgresql-15 with timescaledb, "
        f"Apache Kafka {stack.kafka.version} (jars from Maven Central)"
    )
    return 0
