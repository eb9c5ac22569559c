"""`wastewatch ingest bridge|sink|health`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

from wastewatch.cli.options import Subparsers, add_action, command_group
from wastewatch.core import load_settings


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "ingest", "the MQTT->Kafka bridge and the Kafka->TimescaleDB sink")
    b = add_action(actions, "bridge", bridge, "run the MQTT->Kafka bridge until SIGTERM/SIGINT")
    b.add_argument("--client-id", default=None, help="MQTT client id (default WW_MQTT_CLIENT_ID)")
    add_action(actions, "sink", sink, "run the Kafka->TimescaleDB sink until SIGTERM/SIGINT")
    h = add_action(actions, "health", health, "ask the running bridge and sink how they are")
    h.add_argument("--timeout", type=float, default=3.0, help="seconds per request")


def bridge(args: argparse.Namespace) -> int:
    from wastewatch.ingest.bridge import serve

    asyncio.run(serve(load_settings(), client_id=args.client_id))
    return 0


def sink(_: argparse.Namespace) -> int:
    from wastewatch.ingest.sink import serve

    asyncio.run(serve(load_settings()))
    return 0


def health(args: argparse.Namespace) -> int:
    """Exit 0 only when both answer ok; one line per service either way."""
    ingest = load_settings().ingest
    ok = True
    for name, port in (("bridge", ingest.bridge_metrics_port), ("sink", ingest.sink_metrics_port)):
        url = f"http://{ingest.metrics_host}:{port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as resp:
                report = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            report = json.loads(exc.read() or b"{}")
        except (OSError, ValueError) as exc:
            print(f"{name:<7} down     {url}: {exc}", file=sys.stdout)
            ok = False
            continue
        state = report.get("status", "unknown")
        ok = ok and state == "ok"
        details = ", ".join(f"{k}={v}" for k, v in report.items() if k not in ("status", "service"))
        print(f"{name:<7} {state:<8} {details}")
    return 0 if ok else 1
